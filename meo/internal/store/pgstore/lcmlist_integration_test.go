//go:build integration

package pgstore_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/lcm"
	"github.com/edgemec/edgemec/meo/internal/selector"
	"github.com/edgemec/edgemec/meo/internal/store"
)

// Filters on the string attributes InstanceColumns reads with ->> (the name through its
// index) keep the instances selector.Match keeps on their documents; a list with Omit leaves
// those attributes out and keeps the others.
func TestInstanceListColumnsAndOmit(t *testing.T) {
	st, _, lc, _ := lcmStore(t)
	ctx := t.Context()
	for _, c := range []lcm.CreateInput{{Name: "web", Description: "front"}, {Name: "db"}, {}, {Name: "Web-2", Description: "b\u00e4ck"},
		{Name: "12"}} {
		c.AppDID = "app"
		_, err := lc.Create(ctx, c)
		require.NoError(t, err)
	}
	all, err := st.ListAppInstances(ctx, store.LCMListQuery{})
	require.NoError(t, err)
	require.Len(t, all.Instances, 5)

	for _, f := range []string{
		"(eq,appInstanceName,web)", "(neq,appInstanceName,web)", "(in,appInstanceName,web,db,nope)", "(nin,appInstanceName,db)",
		"(cont,appInstanceName,eb)", "(ncont,appInstanceName,W)", "(gt,appInstanceName,W)", "(lte,appInstanceName,db)",
		"(eq,appInstanceName,12)", "(gte,appInstanceName,12)", "(eq,appInstanceDescription,b\u00e4ck)", "(neq,appInstanceDescription,front)",
		"(eq,appProvider,nope)", "(neq,appName,nope)", "(cont,appSoftVersion,.)", "(eq,appDVersion,1.0)",
		"(eq,appInstanceName,web);(eq,instantiationState,NOT_INSTANTIATED)",
	} {
		t.Run(f, func(t *testing.T) {
			e, err := selector.ParseFilter(f)
			require.NoError(t, err)
			var want []string
			for _, in := range all.Instances {
				b, err := json.Marshal(in)
				require.NoError(t, err)
				var doc map[string]any
				require.NoError(t, json.Unmarshal(b, &doc))
				if e.Match(doc) {
					want = append(want, in.ID)
				}
			}
			page, err := st.ListAppInstances(ctx, store.LCMListQuery{Filter: e})
			require.NoError(t, err)
			var got []string
			for _, in := range page.Instances {
				got = append(got, in.ID)
			}
			require.Equal(t, want, got)
		})
	}

	page, err := st.ListAppInstances(ctx, store.LCMListQuery{Omit: []string{"appInstanceName", "appInstanceDescription",
		"observedState", "trafficSteering"}})
	require.NoError(t, err)
	require.Len(t, page.Instances, len(all.Instances))
	for i, in := range page.Instances {
		full := *all.Instances[i]
		full.AppInstanceName, full.AppInstanceDescription, full.Observed, full.Steering = "", "", nil, nil
		require.Equal(t, &full, in)
	}
	require.True(t, slices.ContainsFunc(all.Instances, func(in *store.AppInstance) bool { return in.AppInstanceName != "" }))
}
