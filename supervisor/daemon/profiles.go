package daemon

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	"gopkg.in/yaml.v3"

	"github.com/mdocgate/mdocgate/crypto/profile"
	"github.com/mdocgate/mdocgate/messages"
)

// profilesFile is a profiles file (examples/profiles.yaml): named profiles, each with
// crypto/profile.Profile's YAML fields (request, checks, rule).
type profilesFile struct {
	Profiles []*profile.Profile `yaml:"profiles"`
}

// loadProfiles reads a profiles file and checks every profile: a name, unique and not
// a built-in one, and a profile that compiles. It returns the YAML of each by name, so
// that every lane decodes a fresh profile of its own (a lane may switch holder
// verification on before compiling). Errors name the field ("profiles[1].rule").
func loadProfiles(path string) (map[string]*yaml.Node, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	var f profilesFile
	if err := decodeYAML(data, &f); errors.Is(err, io.EOF) {
		return nil, bad("profiles", "no profiles")
	} else if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, err
	}
	items := profileNodes(&root)
	if len(f.Profiles) == 0 || len(items) != len(f.Profiles) {
		return nil, bad("profiles", "no profiles")
	}
	out := map[string]*yaml.Node{}
	for i, p := range f.Profiles {
		field := fmt.Sprintf("profiles[%d]", i)
		switch {
		case p == nil:
			return nil, bad(field, "empty")
		case p.Name == "":
			return nil, bad(field+".name", "missing")
		case profile.Builtin(p.Name) != nil:
			return nil, bad(field+".name", "%q is a built-in profile (mdl, photoid and age_over_18 are)", p.Name)
		case out[p.Name] != nil:
			return nil, bad(field+".name", "duplicate profile %q", p.Name)
		}
		if err := p.Compile(); err != nil {
			var fe *profile.FieldError
			if errors.As(err, &fe) {
				return nil, bad(field+"."+fe.Field, "%s", fe.Msg)
			}
			return nil, &fieldError{field, err}
		}
		out[p.Name] = items[i]
	}
	return out, nil
}

// profileNodes returns the items of the top-level profiles list.
func profileNodes(root *yaml.Node) []*yaml.Node {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return nil
	}
	m := root.Content[0]
	for i := 0; m.Kind == yaml.MappingNode && i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "profiles" && m.Content[i+1].Kind == yaml.SequenceNode {
			return m.Content[i+1].Content
		}
	}
	return nil
}

// maxConfigFile bounds a configuration file (the gate's, its profiles', its tokens').
const maxConfigFile = 1 << 20

// readFile reads a configuration file (at most maxConfigFile bytes); its error leaves
// out the path (the caller names it).
func readFile(path string) ([]byte, error) {
	data, err := messages.ReadFileLimited(path, maxConfigFile)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return nil, pe.Err
	}
	return data, err
}
