package resolver

import (
	"fmt"
	"strings"
)

// ValidateNamespace returns an error when ns cannot prefix service names. A valid namespace is
// empty (service names then have no prefix and no leading dot) or dot-separated, non-empty
// labels of [A-Za-z0-9_-], such as "go.micro.api".
//
// New calls it; code that builds a resolver as a struct literal should call it too.
func ValidateNamespace(ns string) error {
	if ns == "" {
		return nil
	}
	for label := range strings.SplitSeq(ns, ".") {
		if !validName(label) {
			return fmt.Errorf("resolver: invalid namespace %q: want dot-separated labels of [A-Za-z0-9_-]", ns)
		}
	}
	return nil
}

// qualify returns name inside the namespace ns: "ns.name", or name alone when ns is empty.
func qualify(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "." + name
}
