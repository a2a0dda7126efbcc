package appd

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// A TOSCA-based AppD (GS MEC 037 TOSCA model, GS NFV-SOL 001 types) is mapped onto the
// AppD model. The subset understood:
//
//   - topology_template.node_templates holds exactly one node whose type ends in MecApp or
//     MecAppD (tosca.nodes.mec.MecApp, tosca.nodes.nfv.Mec.MecApp, ...). Its properties are
//     the AppD members, in MEC 037 camelCase (appDId, appTrafficRule, ...) or snake_case
//     (appd_id, app_traffic_rule, ...). Values below the top level (rules, services) use
//     the GS MEC 010-2 camelCase members.
//   - The compute node is a tosca.nodes.nfv.Vdu.Compute: the one the MecApp node names in a
//     virtual_compute requirement, else the only one. From it come the
//     virtualComputeDescriptor (capabilities.virtual_compute.properties.virtual_cpu
//     {num_virtual_cpu, cpu_architecture, virtual_cpu_clock} and virtual_memory
//     {virtual_mem_size}) and the swImageDescriptor (properties.sw_image_data {name,
//     version, checksum, container_format, disk_format, min_disk, min_ram, size,
//     operating_system}, with swImage from artifacts.sw_image.file). TOSCA scalar-units
//     ("512 MB", "2 GiB") are converted to the model's MB and GB.
//   - A MecApp property that already holds virtualComputeDescriptor or swImageDescriptor
//     wins over the VDU.
//
// Inputs, get_input and other TOSCA functions, substitution mappings, policies and imports
// are not evaluated. Errors point at the mapped AppD member.

// toscaNames maps MEC 037 snake_case property names to AppD members.
var toscaNames = map[string]string{
	"appd_id": "appDId", "app_name": "appName", "app_provider": "appProvider",
	"app_soft_version": "appSoftVersion", "appd_version": "appDVersion", "mec_version": "mecVersion",
	"app_info_name": "appInfoName", "app_description": "appDescription",
	"app_service_required": "appServiceRequired", "app_service_optional": "appServiceOptional",
	"app_service_produced": "appServiceProduced", "app_feature_required": "appFeatureRequired",
	"app_feature_optional": "appFeatureOptional", "transport_dependencies": "transportDependencies",
	"app_traffic_rule": "appTrafficRule", "app_dns_rule": "appDNSRule", "app_latency": "appLatency",
	"app_ext_cpd": "appExtCpd", "terminate_app_instance_op_config": "terminateAppInstanceOpConfig",
	"change_app_instance_state_op_config": "changeAppInstanceStateOpConfig",
	"virtual_compute_descriptor":          "virtualComputeDescriptor", "sw_image_descriptor": "swImageDescriptor",
}

func fromTOSCA(doc map[string]any) (map[string]any, error) {
	tt, ok := doc["topology_template"].(map[string]any)
	if !ok {
		return nil, fieldErr("/topology_template", "is required and must be an object")
	}
	nodes, ok := tt["node_templates"].(map[string]any)
	if !ok {
		return nil, fieldErr("/topology_template/node_templates", "is required and must be an object")
	}
	var app string
	var vdus []string
	for _, name := range slices.Sorted(maps.Keys(nodes)) {
		n, _ := nodes[name].(map[string]any)
		typ, _ := n["type"].(string)
		last := strings.ToLower(typ[strings.LastIndex(typ, ".")+1:])
		switch {
		case last == "mecapp" || last == "mecappd":
			if app != "" {
				return nil, fieldErr("/topology_template/node_templates/"+escape(name), "a second MecApp node; one is allowed")
			}
			app = name
		case strings.HasSuffix(strings.ToLower(typ), "vdu.compute"):
			vdus = append(vdus, name)
		}
	}
	if app == "" {
		return nil, fieldErr("/topology_template/node_templates", "has no MecApp node")
	}
	an := nodes[app].(map[string]any)
	out := map[string]any{}
	if p, ok := an["properties"]; ok {
		pm, ok := p.(map[string]any)
		if !ok {
			return nil, fieldErr("/topology_template/node_templates/"+escape(app)+"/properties", "must be an object")
		}
		for k, v := range pm {
			if c, ok := toscaNames[k]; ok {
				k = c
			}
			if _, dup := out[k]; dup {
				return nil, fieldErr("/"+escape(k), "given twice (camelCase and snake_case)")
			}
			out[k] = v
		}
	}
	vdu, err := pickVDU(an, vdus)
	if err != nil {
		return nil, err
	}
	if vdu != "" {
		vn, _ := nodes[vdu].(map[string]any)
		if _, ok := out["virtualComputeDescriptor"]; !ok {
			if vc := vduCompute(vn); vc != nil {
				out["virtualComputeDescriptor"] = vc
			}
		}
		if _, ok := out["swImageDescriptor"]; !ok {
			if img := vduImage(vn); img != nil {
				out["swImageDescriptor"] = img
			}
		}
	}
	return out, nil
}

// pickVDU is the compute node the MecApp node requires, else the only one.
func pickVDU(app map[string]any, vdus []string) (string, error) {
	reqs, _ := app["requirements"].([]any)
	for _, r := range reqs {
		rm, _ := r.(map[string]any)
		if v, ok := rm["virtual_compute"]; ok {
			name, _ := v.(string)
			if vm, ok := v.(map[string]any); ok {
				name, _ = vm["node"].(string)
			}
			if !slices.Contains(vdus, name) {
				return "", fieldErr("/topology_template/node_templates", fmt.Sprintf("virtual_compute requirement names %q, which is not a Vdu.Compute node", name))
			}
			return name, nil
		}
	}
	switch len(vdus) {
	case 0:
		return "", nil
	case 1:
		return vdus[0], nil
	}
	return "", fieldErr("/topology_template/node_templates", "several Vdu.Compute nodes and no virtual_compute requirement to choose one")
}

func vduCompute(n map[string]any) map[string]any {
	caps, _ := n["capabilities"].(map[string]any)
	vc, _ := caps["virtual_compute"].(map[string]any)
	p, _ := vc["properties"].(map[string]any)
	if p == nil {
		return nil
	}
	out := map[string]any{}
	if cpu, ok := p["virtual_cpu"].(map[string]any); ok {
		c := map[string]any{}
		rename(cpu, c, map[string]string{"num_virtual_cpu": "numVirtualCpu", "cpu_architecture": "cpuArchitecture"})
		if v, ok := cpu["virtual_cpu_clock"]; ok {
			c["virtualCpuClock"] = scalar(v, 1e6) // MHz
		}
		out["virtualCpu"] = c
	}
	if mem, ok := p["virtual_memory"].(map[string]any); ok {
		m := map[string]any{}
		if v, ok := mem["virtual_mem_size"]; ok {
			m["virtualMemSize"] = scalar(v, 1e6) // MB
		}
		out["virtualMemory"] = m
	}
	return out
}

func vduImage(n map[string]any) map[string]any {
	props, _ := n["properties"].(map[string]any)
	d, _ := props["sw_image_data"].(map[string]any)
	arts, _ := n["artifacts"].(map[string]any)
	var file any
	switch a := arts["sw_image"].(type) {
	case string:
		file = a
	case map[string]any:
		file = a["file"]
	}
	if d == nil && file == nil {
		return nil
	}
	out := map[string]any{}
	rename(d, out, map[string]string{
		"name": "name", "version": "version", "checksum": "checksum", "container_format": "containerFormat",
		"disk_format": "diskFormat", "operating_system": "operatingSystem",
		"supported_virtualisation_environments": "supportedVirtualisationEnvironment",
	})
	for k, unit := range map[string]float64{"min_disk": 1e9, "min_ram": 1e6, "size": 1e9} {
		if v, ok := d[k]; ok {
			out[map[string]string{"min_disk": "minDisk", "min_ram": "minRam", "size": "size"}[k]] = intScalar(v, unit)
		}
	}
	if file != nil {
		out["swImage"] = file
	}
	return out
}

func rename(in, out map[string]any, names map[string]string) {
	for k, to := range names {
		if v, ok := in[k]; ok {
			out[to] = v
		}
	}
}

// scalar converts a TOSCA scalar-unit ("512 MB", "1 GiB", "2.4 GHz") to a number of unit
// (bytes or hertz); a bare number is taken as already in unit. Anything else is returned as
// is, for the decoder to reject with a pointer.
func scalar(v any, unit float64) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	num, u, _ := strings.Cut(strings.TrimSpace(s), " ")
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return v
	}
	mult, ok := map[string]float64{
		"b": 1, "kb": 1e3, "kib": 1 << 10, "mb": 1e6, "mib": 1 << 20, "gb": 1e9, "gib": 1 << 30, "tb": 1e12, "tib": 1 << 40,
		"hz": 1, "khz": 1e3, "mhz": 1e6, "ghz": 1e9,
	}[strings.ToLower(strings.TrimSpace(u))]
	if !ok {
		return v
	}
	r := f * mult / unit
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return v
	}
	return json.Number(strconv.FormatFloat(r, 'f', -1, 64))
}

// intScalar is scalar rounded up to a whole unit, for the model's integer members.
func intScalar(v any, unit float64) any {
	n, ok := scalar(v, unit).(json.Number)
	if !ok {
		return scalar(v, unit)
	}
	f, _ := n.Float64()
	if f > math.MaxInt64/2 {
		return n
	}
	return json.Number(strconv.FormatInt(int64(math.Ceil(f)), 10))
}
