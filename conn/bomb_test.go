package conn

import (
	"bytes"
	"compress/flate"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/twoway/websocket/internal/rawpeer"
)

// TestDecompressionBomb sends a compressed message of about 32 KiB that inflates
// to 32 MiB to a server whose read limit is 1 MiB: the server must answer
// 1009 having allocated about the limit, not the inflated size.
func TestDecompressionBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("inflates up to the limit: skipped with -short")
	}
	url, errs := echoServer(t, &AcceptOptions{Compression: &CompressionOptions{}, ReadLimit: 1 << 20})
	p, err := rawpeer.Dial(wsURL(url), &rawpeer.DialOptions{
		Header: http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got := p.HandshakeHeader().Get("Sec-WebSocket-Extensions"); got == "" {
		t.Fatal("permessage-deflate was not negotiated")
	}

	// An independent compressor: compress/flate with a sync flush, the
	// trailing 00 00 ff ff removed (RFC 7692 §7.2.1).
	var payload bytes.Buffer
	fw, _ := flate.NewWriter(&payload, flate.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 32 {
		fw.Write(zeros)
	}
	fw.Flush()
	bomb := bytes.TrimSuffix(payload.Bytes(), []byte{0, 0, 0xff, 0xff})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := p.SendFrame(rawpeer.Frame{Fin: true, RSV: 4, Opcode: rawpeer.OpBinary, Payload: bomb}); err != nil {
		t.Fatal(err)
	}
	closing, err := p.ExpectClose(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if closing.Code != 1009 {
		t.Fatalf("close code %d, want 1009 (compressed %d bytes)", closing.Code, len(bomb))
	}
	p.Close()
	<-errs
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("the server allocated %d MiB to refuse a message over a 1 MiB limit", grew>>20)
	}
}
