package dataplane

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"strconv"
	"sync"
)

// okResponse is the backend's answer to every request.
const okResponse = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"

// serveBackend serves the trivial backend on listen until ctx is done:
// every request (function or health check) is read with its body and
// answered "ok". It reads and writes HTTP/1.1 itself, allocating nothing
// per request, rather than with net/http, which cost more CPU per request
// than the proxies measured: with --pin the backend shares its CPU with
// the load generator, and it must not be what limits the rate.
func serveBackend(ctx context.Context, listen string, stdout io.Writer) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "addr %s\n", ln.Addr())
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			c.Close()
			return nil
		}
		conns[c] = true
		mu.Unlock()
		wg.Go(func() {
			serveConn(c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			c.Close()
		})
	}
}

// serveConn answers the requests of one connection until it closes, a
// request asks to, or one is malformed.
func serveConn(c net.Conn) {
	br := bufio.NewReaderSize(c, 4096)
	for {
		closing, err := readRequest(br)
		if err != nil {
			return
		}
		if _, err := io.WriteString(c, okResponse); err != nil || closing {
			return
		}
	}
}

// readRequest reads one HTTP/1.x request from br and discards its body
// (Content-Length or chunked); closing reports that the connection is to
// be closed after the answer.
func readRequest(br *bufio.Reader) (closing bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return false, err
	}
	// "POST /function/f HTTP/1.1\r\n"
	line = bytes.TrimRight(line, "\r\n")
	i := bytes.LastIndexByte(line, ' ')
	if i < 0 || !bytes.HasPrefix(line[i+1:], []byte("HTTP/1.")) {
		return false, fmt.Errorf("bad request line %.40q", line)
	}
	closing = bytes.Equal(line[i+1:], []byte("HTTP/1.0"))
	length, chunked := int64(0), false
	for n := 0; ; n++ {
		if n == maxHeaderLines {
			return false, errors.New("too many header lines")
		}
		if line, err = br.ReadSlice('\n'); err != nil {
			return false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return false, fmt.Errorf("bad header line %.40q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return false, fmt.Errorf("bad Content-Length %.40q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closing = bytes.EqualFold(value, []byte("close"))
		}
	}
	if chunked {
		if _, err = io.Copy(io.Discard, httputil.NewChunkedReader(br)); err == nil {
			for line, err = br.ReadSlice('\n'); err == nil && len(bytes.TrimSpace(line)) > 0; line, err = br.ReadSlice('\n') {
			}
		}
		return closing, err
	}
	_, err = br.Discard(int(length))
	return closing, err
}
