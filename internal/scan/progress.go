package scan

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progress draws one status line on a terminal while a scan runs, and erases it at the end.
type progress struct {
	w           io.Writer
	now         func() time.Time
	start       time.Time
	listed      atomic.Int64
	listingDone atomic.Bool
	bytes       atomic.Int64
	records     atomic.Int64
	files       atomic.Int64
	findings    atomic.Int64
	done        chan struct{}
	wg          sync.WaitGroup
}

func newProgress(w io.Writer, now func() time.Time) *progress {
	p := &progress{w: w, now: now, start: now(), done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				fmt.Fprint(p.w, "\r\033[K")
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

func (p *progress) draw() {
	secs := p.now().Sub(p.start).Seconds()
	if secs <= 0 {
		secs = 1e-9
	}
	// Read in this order: files only grow and each is listed before it is done, so
	// files <= listed (the bar never overflows); done before listed, so a finished listing
	// shows its final count.
	files, done, listed := p.files.Load(), p.listingDone.Load(), p.listed.Load()
	total := fmt.Sprint(listed)
	if !done {
		total += "+"
	}
	bar := ""
	if done && listed > 0 {
		const width = 24
		n := int(files * width / listed)
		bar = "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "] "
	}
	fmt.Fprintf(p.w, "\r\033[K%sfiles %d/%s  records %d  findings %d  %.1f MB/s",
		bar, files, total, p.records.Load(), p.findings.Load(), float64(p.bytes.Load())/1e6/secs)
}

func (p *progress) stop() {
	close(p.done)
	p.wg.Wait()
}
