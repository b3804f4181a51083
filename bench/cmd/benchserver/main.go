// Command benchserver is the echo server of the side-by-side benchmark.
// It serves one library, chosen by -lib, prints its listen address as the
// first line of standard output, and runs until killed.
//
// For the WebSocket libraries it upgrades requests at /ws and echoes every
// message whole, with its type, using that library's ordinary fast path
// with default buffer sizes, no compression and a read limit of 64 MiB.
// For rawtcp it echoes length-prefixed messages (4-byte big-endian length
// and payload) with no framing at all: the physical limit.
//
// With -fanout it serves the broadcast workload instead (see fanout.go):
// every connection subscribes, and each message a connection sends has
// the server publish one 1 KiB text message to all of them.
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/twoway/websocket/bench/internal/procstat"
	"github.com/twoway/websocket/conn"
)

// readLimit is the largest message every server accepts.
const readLimit = 64 << 20

// handlers maps each -lib name to its /ws handler.
func handlers() map[string]func() http.Handler {
	m := map[string]func() http.Handler{
		"twoway":        twowayHandler,
		"twoway-stream": twowayStreamHandler,
		"twoway-go":     twowayGoHandler,
		"gorilla":       gorillaHandler,
		"coder":         coderHandler,
		"gobwas":        gobwasHandler,
		"gws":           gwsHandler,
	}
	maps.Copy(m, deflateHandlers())
	return m
}

// libNames returns the -lib names served in echo or in fan-out mode.
func libNames(fanout bool) []string {
	hs, names := handlers(), []string{"rawtcp", "rawtcp-batch", "twoway-raw", "twoway-event", "twoway-event-deflate", "gobwas-raw", "nbio", "nbio-deflate"}
	if fanout {
		hs, names = fanoutHandlers(), []string{"rawtcp", "rawtcp-batch", "natsd", "twoway-event-hub"}
	}
	for n := range hs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("benchserver: ")
	fanoutMode := flag.Bool("fanout", false, "serve the broadcast workload instead of the echo")
	lib := flag.String("lib", "", fmt.Sprintf("library to serve: one of %v; with -fanout one of %v", libNames(false), libNames(true)))
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file until SIGINT or SIGTERM")
	debugAddr := flag.String("debug", "", "serve net/http/pprof at this address, e.g. 127.0.0.1:6060 (off by default)")
	flag.BoolVar(&pooled, "pooled", false, "echo loops that own their buffer read each message into a pooled buffer and return it after the echo, so an idle connection holds none (twoway, gorilla, coder)")
	flag.Parse()
	hs := handlers()
	if *fanoutMode {
		hs = fanoutHandlers()
	}
	if names := libNames(*fanoutMode); !slices.Contains(names, *lib) {
		log.Fatalf("unknown -lib %q; want one of %v", *lib, names)
	}
	if *lib == "natsd" {
		runNATS() // for the fanout servers linked by NATS
		return
	}
	if _, err := procstat.RaiseNoFile(); err != nil {
		log.Printf("raising RLIMIT_NOFILE: %v", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
	}
	if *debugAddr != "" {
		// The pprof handlers register on http.DefaultServeMux, which
		// the echo server does not use.
		go func() { log.Print(http.ListenAndServe(*debugAddr, nil)) }()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		if *cpuprofile != "" {
			pprof.StopCPUProfile()
		}
		if *fanoutMode {
			log.Print(fanoutStats())
		}
		os.Exit(0)
	}()
	// The driver waits for this line before starting the load.
	fmt.Println(ln.Addr())

	switch {
	case *fanoutMode && strings.HasPrefix(*lib, "rawtcp"):
		err = serveRawFanout(ln, *lib == "rawtcp-batch")
	case *fanoutMode && *lib == "twoway-event-hub":
		err = serveEventHubFanout(ln)
	case strings.HasPrefix(*lib, "rawtcp"):
		err = serveRaw(ln, *lib == "rawtcp-batch")
	case *lib == "twoway-raw":
		err = serveTwowayRaw(ln)
	case *lib == "twoway-event":
		err = serveTwowayEvent(ln, nil)
	case *lib == "twoway-event-deflate":
		// The default of twoway-deflate: takeover both ways.
		err = serveTwowayEvent(ln, &conn.CompressionOptions{})
	case *lib == "gobwas-raw":
		err = serveGobwasRaw(ln)
	case strings.HasPrefix(*lib, "nbio"):
		err = serveNbio(ln, *lib == "nbio-deflate")
	default:
		mux := http.NewServeMux()
		mux.Handle("/ws", hs[*lib]())
		srv := &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0)}
		err = srv.Serve(ln)
	}
	log.Fatal(err)
}

// serveRaw echoes length-prefixed messages, one goroutine per connection.
// With batch, echoes are buffered while more input is already buffered,
// saving write calls when messages arrive pipelined: a reference for what
// write coalescing could gain, not a WebSocket library's usual behavior.
func serveRaw(ln net.Listener, batch bool) error {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		if batch {
			go echoRawBatch(nc)
		} else {
			go echoRaw(nc)
		}
	}
}

func echoRawBatch(nc net.Conn) {
	defer nc.Close()
	br, bw := bufio.NewReader(nc), bufio.NewWriter(nc)
	var buf []byte
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		if n > readLimit {
			return
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return
		}
		bw.Write(hdr[:])
		bw.Write(buf)
		if br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return
			}
		}
	}
}

func echoRaw(nc net.Conn) {
	defer nc.Close()
	br := bufio.NewReader(nc)
	var buf []byte // length prefix and payload, echoed in one write
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		if n > readLimit {
			return
		}
		if cap(buf) < 4+n {
			buf = make([]byte, 4+n)
		}
		buf = buf[:4+n]
		copy(buf, hdr[:])
		if _, err := io.ReadFull(br, buf[4:]); err != nil {
			return
		}
		if _, err := nc.Write(buf); err != nil {
			return
		}
	}
}
