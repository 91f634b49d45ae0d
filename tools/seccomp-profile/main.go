// seccomp-profile prints the OCI runtime spec's linux.seccomp that moby's default profile
// (github.com/moby/profiles/seccomp, the one the runtimes' RuntimeDefault follows) gives a
// container with the capabilities named as arguments (CAP_...): some rules depend on them.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func main() {
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: os.Args[1:]}}}
	profile, err := seccomp.GetDefaultProfile(spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "seccomp-profile:", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(profile); err != nil {
		fmt.Fprintln(os.Stderr, "seccomp-profile:", err)
		os.Exit(1)
	}
}
