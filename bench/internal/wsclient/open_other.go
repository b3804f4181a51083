//go:build !linux

package wsclient

import (
	"context"
	"errors"
	"net/netip"
)

func (o *Opener) open(context.Context, netip.AddrPort, Proto, *Payload, int) (*Opened, error) {
	return nil, errors.ErrUnsupported
}

func closeReset(int) {}
