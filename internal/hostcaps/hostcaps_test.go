package hostcaps

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMissingFromMask(t *testing.T) {
	cases := []struct {
		name string
		mask string
		want []string
	}{
		{"full set", "000001ffffffffff", nil},
		{"this CI host: no CAP_SYS_RESOURCE", "000001fffeffffff", []string{"CAP_SYS_RESOURCE"}},
		{"two missing", "000001fffefffffe", []string{"CAP_CHOWN", "CAP_SYS_RESOURCE"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MissingFromMask(tc.mask)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	_, err := MissingFromMask("not-hex")
	assert.Error(t, err)
}
