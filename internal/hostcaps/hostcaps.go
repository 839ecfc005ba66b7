// Package hostcaps tells which Linux capabilities the current process's
// bounding set lacks. Some CI sandboxes drop capabilities (CAP_SYS_RESOURCE on
// this project's runners) that privileged containers request; runc then fails
// with "unable to apply caps: operation not permitted". Detecting the gap, rather
// than assuming it, keeps laptops and ordinary runners on the stock runtime.
package hostcaps

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// names is the kernel's capability list in bit order (include/uapi/linux/capability.h).
var names = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// MissingFromBounding returns the names of the known capabilities absent from
// this process's bounding set, read from /proc/self/status.
func MissingFromBounding() ([]string, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "CapBnd:") {
			continue
		}
		return MissingFromMask(strings.TrimSpace(strings.TrimPrefix(line, "CapBnd:")))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("no CapBnd line in /proc/self/status")
}

// MissingFromMask decodes a hexadecimal capability mask as printed in
// /proc/<pid>/status and returns the known capabilities it lacks.
func MissingFromMask(hexMask string) ([]string, error) {
	mask, err := strconv.ParseUint(hexMask, 16, 64)
	if err != nil {
		return nil, fmt.Errorf("capability mask %q: %w", hexMask, err)
	}
	var missing []string
	for bit, name := range names {
		if mask&(1<<uint(bit)) == 0 {
			missing = append(missing, name)
		}
	}
	return missing, nil
}
