package pull

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What dockerd answers, word for word, when a registry cannot be reached and
// when it can but refuses.
func TestNoRegistryCause(t *testing.T) {
	none := map[string]string{
		"name does not resolve (this machine)": `Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host`,
		"resolver failing":                     `Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: Temporary failure in name resolution`,
		"refused":                              `Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp 54.1.2.3:443: connect: connection refused`,
		"unroutable":                           `Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp [2600::1]:443: connect: network is unreachable`,
		"dropped by a firewall":                `Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp 54.1.2.3:443: i/o timeout`,
		"TLS never completes":                  `Error response from daemon: Get "https://registry-1.docker.io/v2/": net/http: TLS handshake timeout`,
	}
	for name, msg := range none {
		assert.Equal(t, msg, NoRegistryCause("v1.36.1: Pulling from kindest/node\n"+msg), name)
	}
	answers := map[string]string{
		"rate limited":    `Error response from daemon: toomanyrequests: You have reached your pull rate limit.`,
		"no such tag":     `Error response from daemon: manifest for kindest/node:v0 not found: manifest unknown: manifest unknown`,
		"unauthorized":    `Error response from daemon: pull access denied for kindest/nod, repository does not exist or may require 'docker login'`,
		"read timed out ": `Error response from daemon: Get "https://production.cloudflare.docker.com/...": net/http: request canceled (Client.Timeout exceeded while awaiting headers)`,
	}
	for name, msg := range answers {
		assert.Empty(t, NoRegistryCause(msg), name)
	}
}

// fakeDocker writes a docker CLI stand-in that runs script for `docker pull`.
func fakeDocker(t *testing.T, script string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "docker")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"+script+"\n"), 0o755))
	return bin
}

func TestPullWithoutRegistryFailsAtOnceAsNoRegistry(t *testing.T) {
	docker := fakeDocker(t, `echo 'Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.0.0.53:53: no such host' >&2; exit 1`)
	err := Pull(context.Background(), "kindest/node:v1", Options{Docker: docker})
	require.Error(t, err)
	assert.True(t, IsNoRegistry(err), "%v", err)
	assert.ErrorContains(t, err, "no registry answers for kindest/node:v1: Error response from daemon")
	assert.ErrorContains(t, err, "no such host")
}

func TestPullRefusedByARegistryIsNotNoRegistry(t *testing.T) {
	docker := fakeDocker(t, `echo 'Error response from daemon: toomanyrequests: You have reached your pull rate limit.' >&2; exit 1`)
	err := Pull(context.Background(), "kindest/node:v1", Options{Docker: docker})
	require.Error(t, err)
	assert.False(t, IsNoRegistry(err))
	assert.ErrorContains(t, err, "toomanyrequests")
}

// A slow registry: the pull keeps going past several heartbeats, each saying
// how far it got, and succeeds.
func TestSlowPullKeepsGoingAndReportsLayers(t *testing.T) {
	docker := fakeDocker(t, `echo 'v1: Pulling from kindest/node'
echo 'aaaaaaaaaaaa: Pulling fs layer'
echo 'bbbbbbbbbbbb: Pulling fs layer'
echo 'aaaaaaaaaaaa: Download complete'
sleep 1
echo 'aaaaaaaaaaaa: Pull complete'
sleep 1
echo 'bbbbbbbbbbbb: Download complete'
echo 'Status: Downloaded newer image for kindest/node:v1'`)
	var log bytes.Buffer
	err := Pull(context.Background(), "kindest/node:v1", Options{Docker: docker, Log: &log, Heartbeat: 100 * time.Millisecond})
	require.NoError(t, err)
	assert.Regexp(t, `pulling kindest/node:v1: \S+ so far, 1/2 layers downloaded, 0 extracted`, log.String())
	assert.Regexp(t, `pulling kindest/node:v1: \S+ so far, 1/2 layers downloaded, 1 extracted`, log.String())
	assert.Contains(t, log.String(), "nodeimage: pulled kindest/node:v1 in ")
}

func TestPullStopsWithTheContext(t *testing.T) {
	docker := fakeDocker(t, `echo 'aaaaaaaaaaaa: Pulling fs layer'; exec sleep 30`)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := Pull(ctx, "kindest/node:v1", Options{Docker: docker})
	require.Error(t, err)
	assert.False(t, IsNoRegistry(err))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "0/1 layers downloaded")
}
