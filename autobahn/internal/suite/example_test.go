package suite_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/twoway/websocket/autobahn/internal/suite"
	"github.com/twoway/websocket/conn"
	"github.com/twoway/websocket/internal/rawpeer"
)

// Run plays cases against a server: here conn's, echoing. The peer dials
// with each case's options, which carry the compression offers of 12.x and
// 13.x.
func ExampleRun() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, &conn.AcceptOptions{Compression: &conn.CompressionOptions{}})
		if err != nil {
			return
		}
		echo(c)
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	for _, c := range suite.Cases(suite.Options{Short: true}) {
		if c.ID != "5.6" && c.ID != "12.1.1" {
			continue
		}
		p, err := rawpeer.Dial(url, c.DialOptions())
		if err != nil {
			log.Fatal(err)
		}
		r := suite.Run(c, p, suite.Options{})
		fmt.Println(r.ID, r.Behavior, r.BehaviorClose, r.RemoteCloseCode)
	}
	// Output:
	// 5.6 OK OK 1000
	// 12.1.1 OK OK 1000
}
