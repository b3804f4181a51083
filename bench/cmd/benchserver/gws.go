package main

import (
	"net/http"

	"github.com/lxzan/gws"
)

// gwsEcho is gws's event handler: each message is written back from the
// library's pooled buffer, which is then returned to the pool.
type gwsEcho struct {
	gws.BuiltinEventHandler
}

func (gwsEcho) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

// gwsHandler upgrades and runs gws's read loop, as in its README.
// Defaults: 4 KiB read buffer, no compression, no parallel handling.
func gwsHandler() http.Handler {
	return gwsServe(&gws.ServerOption{
		ReadMaxPayloadSize:  readLimit,
		WriteMaxPayloadSize: readLimit,
	})
}

// gwsServe upgrades with opt and runs the echo.
func gwsServe(opt *gws.ServerOption) http.Handler {
	up := gws.NewUpgrader(gwsEcho{}, opt)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		go c.ReadLoop()
	})
}
