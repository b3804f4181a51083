package main

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/twoway/websocket/conn"
)

// An item is something read from standard input for the connection to do.
type item struct {
	kind   itemKind
	data   []byte         // itemData
	r      io.Reader      // itemStream: the message, to be read to its end
	code   conn.CloseCode // itemClose
	reason string         // itemClose
	err    error          // itemEnd: nil at the end of input
}

type itemKind int

const (
	itemData   itemKind = iota // send a message
	itemStream                 // send the rest of stdin as one message
	itemPing                   // the /ping command
	itemClose                  // the /close command
	itemEnd                    // the end of input, or an error reading it
)

// input is standard input, cut into items. It outlives connections: in
// listen mode, what one connection did not take goes to the next.
type input struct {
	items   <-chan item // nil when items come only from pending, or never
	pending *item       // the next item, already taken from items
}

// startInput starts reading stdin, as o asks, until done is closed.
func (a *app) startInput(stdin io.Reader, done <-chan struct{}) *input {
	switch {
	case a.o.noInput:
		return &input{}
	case a.o.split == "eof":
		// A message streamed from stdin as it is read: there is
		// nothing to read ahead.
		return &input{pending: &item{kind: itemStream, r: stdin}}
	}
	items := make(chan item)
	go a.readInput(stdin, items, done)
	return &input{items: items}
}

// next returns the next item, or false once stop is closed. An item that
// arrives as stop closes is kept for whoever asks next, so that it is not
// lost with the connection that ends.
func (in *input) next(stop <-chan struct{}) (item, bool) {
	if in.pending == nil {
		select {
		case it := <-in.items:
			in.pending = &it
		case <-stop:
			return item{}, false
		}
	}
	select {
	case <-stop:
		return item{}, false
	default:
	}
	it := *in.pending
	in.pending = nil
	return it, true
}

// readChunk is the most read from stdin at once with -split read.
const readChunk = 32 << 10

// readInput sends stdin to items, cut as o.split asks, ending with an
// itemEnd.
func (a *app) readInput(stdin io.Reader, items chan<- item, done <-chan struct{}) {
	send := func(it item) bool {
		select {
		case items <- it:
			return true
		case <-done:
			return false
		}
	}
	if a.o.split == "read" {
		buf := make([]byte, readChunk)
		var carry []byte // the start of a character cut by a read
		for {
			n, err := stdin.Read(buf)
			if n > 0 {
				data := make([]byte, 0, len(carry)+n)
				data = append(append(data, carry...), buf[:n]...)
				carry = nil
				if !a.o.binary {
					k := completeUTF8(data)
					data, carry = data[:k], data[k:]
				}
				if len(data) > 0 && !send(item{kind: itemData, data: data}) {
					return
				}
			}
			if err != nil {
				if len(carry) > 0 && !send(item{kind: itemData, data: carry}) {
					return
				}
				if err == io.EOF {
					err = nil
				}
				send(item{kind: itemEnd, err: err})
				return
			}
		}
	}

	br := bufio.NewReader(stdin)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			send(item{kind: itemEnd, err: err})
			return
		}
		if err == nil || len(line) > 0 {
			line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
			it, ok := item{kind: itemData, data: line}, true
			if a.interactive && bytes.HasPrefix(line, []byte("/")) {
				if bytes.HasPrefix(line, []byte("//")) {
					it.data = line[1:]
				} else {
					it, ok = a.command(string(line))
				}
			}
			if ok && !send(it) {
				return
			}
		}
		if err == io.EOF {
			send(item{kind: itemEnd})
			return
		}
	}
}

// completeUTF8 returns the length of b without the start of a character
// cut off at its end.
func completeUTF8(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return len(b)
}

const commandHelp = `commands:
  /ping                   send a ping and report the round trip
  /close [CODE [REASON]]  close the connection with CODE and REASON
  /help                   list the commands
  //text                  send "/text"`

// command parses an interactive command. It reports false, having said
// why, for a line that is no command to run.
func (a *app) command(line string) (item, bool) {
	name, args, _ := strings.Cut(line, " ")
	switch name {
	case "/ping":
		return item{kind: itemPing}, true
	case "/close":
		it := item{kind: itemClose, code: a.o.closeCode, reason: a.o.closeReason}
		if args = strings.TrimLeft(args, " "); args != "" {
			code, reason, _ := strings.Cut(args, " ")
			n, err := strconv.ParseUint(code, 10, 16)
			if err != nil {
				a.errorf("/close %s: the code is not a number", code)
				return item{}, false
			}
			it.code, it.reason = conn.CloseCode(n), strings.TrimLeft(reason, " ")
		}
		if err := checkClose(it.code, it.reason); err != nil {
			a.errorf("/close: %v", err)
			return item{}, false
		}
		return it, true
	case "/help":
		a.errorf("%s", commandHelp)
		return item{}, false
	}
	a.errorf("unknown command %s; /help lists them, and //text sends \"/text\"", name)
	return item{}, false
}
