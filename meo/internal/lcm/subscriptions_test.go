package lcm

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/store"
)

func TestRouter(t *testing.T) {
	sub := func(id, typ string, f Filter) *store.LCMSubscription {
		require.NoError(t, f.check(typ))
		b, err := json.Marshal(f)
		require.NoError(t, err)
		return &store.LCMSubscription{ID: id, SubscriptionType: typ, CallbackURI: "http://cb/" + id, Filter: b}
	}
	subs := []*store.LCMSubscription{
		sub("inst-all", InstanceStateChange, Filter{}),
		sub("inst-stopped", InstanceStateChange, Filter{AppInstanceState: []string{store.Stopped}}),
		sub("op-all", OpOccStateChange, Filter{}),
		sub("op-failed-instantiate", OpOccStateChange, Filter{OperationStates: []string{store.OpFailed, store.OpFailedTemp},
			OperationTypes: []string{"INSTATIATE"}, NotificationTypes: []string{OpOccNotificationType}}),
		sub("op-of-other-app", OpOccStateChange, Filter{Instances: &InstanceFilter{SelectorType: SelectAppDID, AppInstances: []string{"other"}}}),
		sub("created", IdentifierCreation, Filter{Instances: &InstanceFilter{SelectorType: SelectFromProvider,
			AppsFromProviders: []ProviderFilter{{AppProvider: "acme", AppProducts: &ProductFilter{AppName: "app",
				Versions: &VersionFilter{AppSoftVersion: "1.0", AppDVersion: []string{"2"}}}}}}}),
		sub("created-by-name", IdentifierCreation, Filter{Instances: &InstanceFilter{SelectorType: SelectName, AppInstances: []string{"nope"}}}),
		sub("deleted-by-id", IdentifierDeletion, Filter{Instances: &InstanceFilter{SelectorType: SelectIdentity, AppInstances: []string{"i1"}}}),
	}
	at := time.Unix(1700000000, 7)
	inst := store.AppInstance{ID: "i1", AppDID: "d1", AppPkgID: "p1", AppProvider: "acme", AppName: "app", AppSoftVersion: "1.0", AppDVersion: "2"}
	stopped := inst
	stopped.InstantiatedAppState = &store.AppState{OperationalState: store.Stopped}
	op := func(state, operation string) *store.OpOcc {
		return &store.OpOcc{ID: "o1", AppInstanceID: "i1", OperationState: state, LcmOperation: operation}
	}
	for _, tc := range []struct {
		name  string
		event store.LCMEvent
		want  []string
		ntype string
	}{
		{"created", instanceEvent(IdentifierCreation, IdentifierCreationNotification, &inst, at), []string{"created"}, IdentifierCreationNotification},
		{"deleted", instanceEvent(IdentifierDeletion, IdentifierDeletionNotification, &inst, at), []string{"deleted-by-id"}, IdentifierDeletionNotification},
		{"stopped", stateEvent(&stopped, at), []string{"inst-all", "inst-stopped"}, store.Stopped},
		{"not instantiated", stateEvent(&inst, at), []string{"inst-all"}, store.NotInstantiated},
		{"instantiate failed", opEvent(op(store.OpFailed, store.OpInstantiate), &inst, at), []string{"op-all", "op-failed-instantiate"}, store.OpFailed},
		{"terminate failed", opEvent(op(store.OpFailedTemp, store.OpTerminate), &inst, at), []string{"op-all"}, store.OpFailedTemp},
		{"processing", opEvent(op(store.OpProcessing, store.OpInstantiate), &inst, at), []string{"op-all"}, store.OpProcessing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := Router("http://meo")(subs, []store.LCMEvent{tc.event})
			var got []string
			ids := map[any]bool{}
			for _, d := range ds {
				got = append(got, d.SubscriptionID)
				assert.Equal(t, "http://cb/"+d.SubscriptionID, d.CallbackURI)
				var n map[string]any
				require.NoError(t, json.Unmarshal(d.Body, &n))
				assert.Equal(t, tc.ntype, n["notificationType"])
				assert.Equal(t, d.SubscriptionID, n["subscriptionId"])
				assert.Equal(t, "i1", n["appInstanceId"])
				assert.Equal(t, map[string]any{"seconds": 1700000000.0, "nanoSeconds": 7.0}, n["timeStamp"])
				links := n["_links"].(map[string]any)
				assert.Equal(t, "http://meo/app_lcm/v1/subscriptions/"+d.SubscriptionID, links["subscription"].(map[string]any)["href"])
				assert.Equal(t, "http://meo/app_lcm/v1/app_instances/i1", links["appInstance"].(map[string]any)["href"])
				if tc.event.Op != nil {
					assert.Equal(t, "o1", n["appLcmOpOccId"])
					assert.Equal(t, tc.event.Op.LcmOperation, n["lcmOperation"])
					assert.Equal(t, "http://meo/app_lcm/v1/app_lcm_op_occs/o1", links["appLcmOpOcc"].(map[string]any)["href"])
				} else {
					assert.Equal(t, "d1", n["appDId"])
					assert.Equal(t, "p1", n["appPkgId"])
				}
				ids[n["id"]] = true
			}
			assert.Equal(t, tc.want, got)
			assert.Len(t, ids, 1, "one notification id for every subscription")
		})
	}
}

func TestFilterCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		typ  string
		f    Filter
		err  string
	}{
		{"state on op subscription", OpOccStateChange, Filter{AppInstanceState: []string{store.Started}}, "appInstanceState applies"},
		{"op states on instance subscription", InstanceStateChange, Filter{OperationStates: []string{store.OpFailed}}, "appLcmOpOccSubscriptionFilter applies"},
		{"bad state", InstanceStateChange, Filter{AppInstanceState: []string{"RUNNING"}}, "appInstanceState"},
		{"bad operation", OpOccStateChange, Filter{OperationTypes: []string{"SCALE"}}, "operationTypes"},
		{"bad notification type", OpOccStateChange, Filter{NotificationTypes: []string{"X"}}, "notificationTypes"},
		{"identity without ids", IdentifierCreation, Filter{Instances: &InstanceFilter{SelectorType: SelectIdentity}}, "needs appInstances"},
		{"provider without providers", IdentifierCreation, Filter{Instances: &InstanceFilter{SelectorType: SelectFromProvider}}, "needs appsFromProviders"},
		{"unknown selector", IdentifierCreation, Filter{Instances: &InstanceFilter{SelectorType: "APP_X"}}, "appInstSelectorType"},
		{"valid", OpOccStateChange, Filter{OperationTypes: []string{"INSTATIATE"}, Instances: &InstanceFilter{SelectorType: SelectVoid}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f.check(tc.typ)
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
}

func TestCompleted(t *testing.T) {
	task := func(k string) json.RawMessage { return json.RawMessage(`{"Kind":"` + k + `"}`) }
	placed := func() *store.AppInstance {
		return &store.AppInstance{ID: "i", InstantiationState: store.NotInstantiated, SiteID: "s1",
			MECHostInformation: &store.HostInfo{HostID: "s1"}}
	}
	running := func(state string) *store.AppInstance {
		in := placed()
		in.InstantiationState, in.InstantiatedAppState, in.AppConfirmedReady = store.Instantiated, &store.AppState{OperationalState: state}, true
		in.Observed = json.RawMessage(`{"phase":"Running"}`)
		return in
	}
	for _, tc := range []struct {
		name  string
		op    store.OpOcc
		in    *store.AppInstance
		state string // instantiation state after
		opst  string // operational state after ("" = none)
		site  string
	}{
		{"instantiate", store.OpOcc{LcmOperation: store.OpInstantiate, SiteID: "s1"}, placed(), store.Instantiated, store.Started, "s1"},
		{"stop", store.OpOcc{LcmOperation: store.OpOperate, Task: task("OPERATE_STOP")}, running(store.Started), store.Instantiated, store.Stopped, "s1"},
		{"start", store.OpOcc{LcmOperation: store.OpOperate, Task: task("OPERATE_START")}, running(store.Stopped), store.Instantiated, store.Started, "s1"},
		{"terminate", store.OpOcc{LcmOperation: store.OpTerminate}, running(store.Started), store.NotInstantiated, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changed, err := completed(&tc.op, tc.in)
			require.NoError(t, err)
			assert.True(t, changed)
			assert.Equal(t, tc.state, tc.in.InstantiationState)
			if tc.opst == "" {
				assert.Nil(t, tc.in.InstantiatedAppState)
				assert.Nil(t, tc.in.MECHostInformation)
				assert.Nil(t, tc.in.Observed)
				assert.False(t, tc.in.AppConfirmedReady)
			} else {
				assert.Equal(t, tc.opst, tc.in.InstantiatedAppState.OperationalState)
				assert.True(t, tc.in.AppConfirmedReady)
			}
			assert.Equal(t, tc.site, tc.in.SiteID)
		})
	}
}
