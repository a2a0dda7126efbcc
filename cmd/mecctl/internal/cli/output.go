package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"
)

// Output formats, for -o.
const (
	FormatTable = "table"
	FormatWide  = "wide"
	FormatJSON  = "json"
	FormatYAML  = "yaml"
	FormatName  = "name"
)

var formats = []string{FormatTable, FormatWide, FormatJSON, FormatYAML, FormatName}

// secretKeys are the members hidden in json and yaml output unless --show-secrets.
var secretKeys = map[string]bool{"clientSecret": true, "token": true, "accessToken": true, "access_token": true,
	"client_secret": true, "password": true}

// hidden replaces a secret's value.
const hidden = "<hidden>"

// Column is a table column; Wide columns appear only with -o wide.
type Column struct {
	Header string
	Wide   bool
	// Blank leaves an empty cell empty instead of showing <none>.
	Blank bool
}

// View is what a command has to show: objects for json and yaml, rows for the tables, names
// for -o name. Every command builds one and hands it to the printer, so that every command
// honours every format.
type View struct {
	// Kind names the objects in -o name ("package") and in empty-list messages.
	Kind string
	// Columns and Rows make the tables; a row has one cell per column, wide ones included.
	Columns []Column
	Rows    [][]string
	// Names are the objects' names for -o name, one per row.
	Names []string
	// Object is what json and yaml print: one object (get NAME, a change) or a list.
	Object any
	// List tells an empty list (a message on stderr) from a single object.
	List bool
	// Header is printed above the table (table and wide only).
	Header string
}

// printer writes views in the chosen format.
type printer struct {
	out, errOut io.Writer
	format      string
	showSecrets bool
}

func (p *printer) print(v View) error {
	switch p.format {
	case FormatJSON, FormatYAML:
		b, err := marshal(v.Object)
		if err != nil {
			return fmt.Errorf("encode output: %w", err)
		}
		if !p.showSecrets {
			b, err = redact(b)
			if err != nil {
				return err
			}
		}
		if p.format == FormatJSON {
			var buf bytes.Buffer
			if err := json.Indent(&buf, b, "", "  "); err != nil {
				return fmt.Errorf("encode output: %w", err)
			}
			buf.WriteByte('\n')
			_, err := p.out.Write(buf.Bytes())
			return err
		}
		y, err := jsonToYAML(b)
		if err != nil {
			return err
		}
		_, err = p.out.Write(y)
		return err
	case FormatName:
		for _, n := range v.Names {
			fmt.Fprintf(p.out, "%s/%s\n", v.Kind, n)
		}
		return nil
	}
	if v.List && len(v.Rows) == 0 {
		if v.Header != "" {
			fmt.Fprintln(p.out, v.Header)
		}
		fmt.Fprintf(p.errOut, "No %s found.\n", plural(v.Kind))
		return nil
	}
	wide := p.format == FormatWide
	if v.Header != "" {
		fmt.Fprintln(p.out, v.Header)
	}
	tw := tabwriter.NewWriter(p.out, 0, 4, 3, ' ', 0)
	var hdr []string
	for _, c := range v.Columns {
		if !c.Wide || wide {
			hdr = append(hdr, c.Header)
		}
	}
	fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	for _, r := range v.Rows {
		var cells []string
		for i, c := range v.Columns {
			if c.Wide && !wide {
				continue
			}
			cell := ""
			if i < len(r) {
				cell = r[i]
			}
			if cell == "" && !c.Blank {
				cell = "<none>"
			}
			cells = append(cells, cell)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

func plural(kind string) string {
	switch {
	case strings.HasSuffix(kind, "s"):
		return kind + "es"
	case strings.HasSuffix(kind, "y"):
		return strings.TrimSuffix(kind, "y") + "ies"
	}
	return kind + "s"
}

// redact hides the values of secretKeys members anywhere in a JSON document, keeping the
// members' order.
func redact(b []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("encode output: %w", err)
	}
	changed := redactNode(&n)
	if !changed {
		return b, nil
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, &n); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func redactNode(n *yaml.Node) bool {
	changed := false
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			changed = redactNode(c) || changed
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if secretKeys[k.Value] && v.Kind == yaml.ScalarNode && v.Value != "" {
				v.Value, v.Tag, v.Style = hidden, "!!str", yaml.DoubleQuotedStyle
				changed = true
				continue
			}
			changed = redactNode(v) || changed
		}
	}
	return changed
}

// writeJSON writes a node parsed from JSON back as JSON, in its order.
func writeJSON(w *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		return writeJSON(w, n.Content[0])
	case yaml.MappingNode:
		w.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				w.WriteByte(',')
			}
			k, _ := marshal(n.Content[i].Value)
			w.Write(k)
			w.WriteByte(':')
			if err := writeJSON(w, n.Content[i+1]); err != nil {
				return err
			}
		}
		w.WriteByte('}')
	case yaml.SequenceNode:
		w.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				w.WriteByte(',')
			}
			if err := writeJSON(w, c); err != nil {
				return err
			}
		}
		w.WriteByte(']')
	case yaml.ScalarNode:
		if n.Tag == "!!str" {
			b, _ := marshal(n.Value)
			w.Write(b)
		} else {
			w.WriteString(n.Value)
		}
	default:
		return fmt.Errorf("encode output: unexpected node kind %v", n.Kind)
	}
	return nil
}

// jsonToYAML converts JSON to block-style YAML, keeping the members' order.
func jsonToYAML(b []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("encode output: %w", err)
	}
	blockStyle(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("encode output: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode output: %w", err)
	}
	return buf.Bytes(), nil
}

func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// marshal is json.Marshal without HTML escaping: output is for people and scripts, not for
// embedding in HTML, and "<hidden>" or a URL with & must read as written.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
