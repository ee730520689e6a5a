package testsvc

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

//go:embed proto/testsvc/v1/echo.proto proto/testsvc/v2/echo.proto proto/v1.protoset proto/all.protoset
var protoFS embed.FS

// Descriptors says where WriteDescriptors put the test service's descriptor sources.
type Descriptors struct {
	// ImportPath is the directory the .proto names below are relative to.
	ImportPath string
	// V1Proto and V2Proto are the .proto files, relative to ImportPath.
	V1Proto, V2Proto string
	// V1Protoset holds testsvc.v1 only (what a server started without WithV2 offers);
	// AllProtoset holds both packages.
	V1Protoset, AllProtoset string
}

// WriteDescriptors writes the embedded .proto files and protosets into a temporary directory
// of the test, so the gateway can read them whatever the working directory.
func WriteDescriptors(t testing.TB) Descriptors {
	t.Helper()
	dir := t.TempDir()
	sub, err := fs.Sub(protoFS, "proto")
	if err != nil {
		t.Fatalf("testsvc: %v", err)
	}
	if err := os.CopyFS(dir, sub); err != nil {
		t.Fatalf("testsvc: writing descriptors: %v", err)
	}
	return Descriptors{
		ImportPath:  dir,
		V1Proto:     "testsvc/v1/echo.proto",
		V2Proto:     "testsvc/v2/echo.proto",
		V1Protoset:  filepath.Join(dir, "v1.protoset"),
		AllProtoset: filepath.Join(dir, "all.protoset"),
	}
}
