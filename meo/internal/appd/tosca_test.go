package appd_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/appd"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

func TestParseTOSCA(t *testing.T) {
	b, err := os.ReadFile("testdata/tosca.yaml")
	require.NoError(t, err)
	a, err := appd.Parse(b)
	require.NoError(t, err)
	assert.Equal(t, "mecapp", a.AppDID)
	assert.Equal(t, []string{"2.2.1", "3.1.1"}, a.MECVersion)
	require.Len(t, a.AppDNSRule, 1)
	require.Len(t, a.AppServiceProduced, 1)
	req := a.DeployRequest("i1", vim.Artifacts{})
	assert.Equal(t, vim.VirtualCompute{VirtualCPUs: 2, MemoryMiB: 1074, CPUArchitecture: "arm64"}, req.Compute)
	assert.Equal(t, vim.SwImage{Name: "mecapp", Ref: "local/mecapp:dev", ContainerFormat: "docker", MinDiskGiB: 2, MinRAMMiB: 256}, req.Image)
}

func TestParseTOSCAErrors(t *testing.T) {
	const head = "tosca_definitions_version: tosca_simple_yaml_1_3\n"
	for _, tc := range []struct{ name, doc, ptr, msg string }{
		{"no topology", head, "/topology_template", "is required"},
		{"no nodes", head + "topology_template: {}\n", "/topology_template/node_templates", "is required"},
		{"no MecApp", head + "topology_template: {node_templates: {a: {type: tosca.nodes.Root}}}\n", "/topology_template/node_templates", "no MecApp"},
		{"two MecApps", head + "topology_template: {node_templates: {a: {type: tosca.nodes.mec.MecApp}, b: {type: x.MecApp}}}\n",
			"/topology_template/node_templates/b", "second MecApp"},
		{"unknown VDU", head + "topology_template: {node_templates: {a: {type: x.MecApp, requirements: [{virtual_compute: nope}]}}}\n",
			"/topology_template/node_templates", "not a Vdu.Compute"},
		{"two VDUs", head + "topology_template: {node_templates: {a: {type: x.MecApp}, v1: {type: tosca.nodes.nfv.Vdu.Compute}, v2: {type: tosca.nodes.nfv.Vdu.Compute}}}\n",
			"/topology_template/node_templates", "several"},
		{"both spellings", head + "topology_template: {node_templates: {a: {type: x.MecApp, properties: {appName: a, app_name: b}}}}\n",
			"/appName", "twice"},
		{"mapped member checked", head + "topology_template: {node_templates: {a: {type: x.MecApp, properties: {appd_id: a, app_name: a, app_provider: p, app_soft_version: '1', appd_version: '1', mec_version: '2'}}, " +
			"v: {type: tosca.nodes.nfv.Vdu.Compute, capabilities: {virtual_compute: {properties: {virtual_memory: {virtual_mem_size: lots}}}}}}}\n",
			"/virtualComputeDescriptor/virtualMemory/virtualMemSize", "must be a number"},
		{"unit unknown", head + "topology_template: {node_templates: {a: {type: x.MecApp, properties: {appd_id: a, app_name: a, app_provider: p, app_soft_version: '1', appd_version: '1', mec_version: '2'}}, " +
			"v: {type: tosca.nodes.nfv.Vdu.Compute, properties: {sw_image_data: {min_ram: 2 parsecs}}}}}\n",
			"/swImageDescriptor/0/minRam", "must be an integer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := appd.Parse([]byte(tc.doc))
			requireFieldErr(t, err, tc.ptr, tc.msg)
		})
	}
}
