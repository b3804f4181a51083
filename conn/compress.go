package conn

import (
	"fmt"

	"github.com/twoway/websocket/frame"
	"github.com/twoway/websocket/handshake"
	"github.com/twoway/websocket/internal/pmdeflate"
)

// compression is the permessage-deflate state of a connection (RFC 7692).
type compression struct {
	threshold int
	deflate   *pmdeflate.Compressor
	inflate   *pmdeflate.Decompressor
}

const deflateName = pmdeflate.ExtensionName

func deflateConfig(o *CompressionOptions) pmdeflate.Config {
	return pmdeflate.Config{
		ServerNoContextTakeover: o.ServerNoContextTakeover,
		ClientNoContextTakeover: o.ClientNoContextTakeover,
		ServerMaxWindowBits:     o.ServerMaxWindowBits,
		ClientMaxWindowBits:     o.ClientMaxWindowBits,
		Level:                   o.Level,
		Threshold:               o.Threshold,
	}
}

func serverDeflate(o *CompressionOptions) handshake.ServerExtension {
	return pmdeflate.NewServerExtension(deflateConfig(o))
}

func clientDeflate(o *CompressionOptions) handshake.ClientExtension {
	return pmdeflate.NewClientExtension(deflateConfig(o))
}

// setupCompression configures the transform agreed in the handshake.
func (c *Conn) setupCompression(accepted []handshake.Extension, o *CompressionOptions) error {
	for _, e := range accepted {
		if e.Name != deflateName {
			continue
		}
		p, err := pmdeflate.ParseParams(e)
		if err != nil {
			return fmt.Errorf("websocket: negotiated %s: %w", deflateName, err)
		}
		cfg := deflateConfig(o)
		c.compress = &compression{
			threshold: o.Threshold,
			deflate:   p.Compressor(!c.client, cfg),
			inflate:   p.Decompressor(!c.client),
		}
		c.rd.rules.AllowedRSV = frame.RSV1
	}
	return nil
}
