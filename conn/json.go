package conn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
)

// errJSONTrailing reports a message with more than one JSON value.
var errJSONTrailing = errors.New("websocket: JSON message holds more than one value")

// ReadJSON reads the next message, of either type, and decodes it as one
// JSON value into v, as json.Unmarshal would, while it arrives: the message
// is not held whole in memory. A message that is not one JSON value fails
// the call and leaves the connection open.
func (c *Conn) ReadJSON(ctx context.Context, v any) error {
	_, r, err := c.Reader(ctx)
	if err != nil {
		return err
	}
	rr := &readRecorder{r: r}
	dec := json.NewDecoder(rr)
	err = dec.Decode(v)
	if err == nil {
		if _, err = dec.Token(); err == io.EOF {
			return nil
		}
		err = errJSONTrailing
	}
	if rr.err != nil && rr.err != io.EOF {
		return rr.err // the connection failed, not the JSON: already worded
	}
	if err == errJSONTrailing {
		return err
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // an empty message
	}
	return &prefixedError{"websocket: decoding JSON: ", err}
}

// readRecorder keeps the error of the last read, so that ReadJSON tells
// the connection failing from the message not being JSON.
type readRecorder struct {
	r   io.Reader
	err error
}

func (rr *readRecorder) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	rr.err = err
	return n, err
}

// WriteJSON encodes v as JSON, as json.Marshal would, into one text
// message, streamed to the connection as it is encoded. A value that
// cannot be encoded fails the call before anything is sent.
func (c *Conn) WriteJSON(ctx context.Context, v any) error {
	mw, err := c.startMessage(ctx, Text)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(trimNewline{mw}).Encode(v); err != nil {
		failed := mw.sink.failed
		mw.discard(err)
		mw.end()
		c.msem.release()
		if failed != nil {
			return failed // sending, not encoding, failed
		}
		return &prefixedError{"websocket: encoding JSON: ", err}
	}
	return mw.Close()
}

// trimNewline drops the newline json.Encoder ends every value with, which
// a message does not need. The encoder writes each value in one call.
type trimNewline struct{ w io.Writer }

func (t trimNewline) Write(p []byte) (int, error) {
	n, err := t.w.Write(bytes.TrimSuffix(p, []byte("\n")))
	if err == nil {
		n = len(p)
	}
	return n, err
}
