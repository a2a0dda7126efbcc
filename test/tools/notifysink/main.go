// Command notifysink receives MEC notifications (HTTP POSTs of JSON) and appends each one as
// a line to a file, answering 204: a stand-in subscriber for the demo.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"sync"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18081", "listen address")
	out := flag.String("out", "notifications.jsonl", "file to append notifications to")
	flag.Parse()
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	http.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var c bytes.Buffer
		if err != nil || json.Compact(&c, b) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		f.Write(append(c.Bytes(), '\n')) //nolint:errcheck
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
