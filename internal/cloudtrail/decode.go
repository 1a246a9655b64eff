package cloudtrail

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/klauspost/compress/gzip"
)

// Event is one record ready for detection.
type Event struct {
	// Envelope is the EventBridge envelope. Decode never reuses its bytes: it may be kept.
	Envelope []byte
	// Origin names the record's place: "file.json.gz record 17", "s3://b/k record 3", "x.jsonl line 12".
	Origin string
	// Time is the event time (eventTime, or the envelope's time); zero when unknown.
	Time time.Time
}

// Problem is one bad record or unreadable part of an input.
type Problem struct {
	Origin string
	Err    error
}

func (p Problem) String() string { return p.Origin + ": " + p.Err.Error() }

// MaxProblems bounds Stats.Problems; Stats.Bad keeps counting past it.
const MaxProblems = 20

// Stats counts what Decode saw.
type Stats struct {
	Records  int       // events emitted
	Bad      int       // bad records or unreadable parts
	Problems []Problem // the first MaxProblems problems
}

func (s *Stats) problem(origin string, err error) {
	s.Bad++
	if len(s.Problems) < MaxProblems {
		s.Problems = append(s.Problems, Problem{Origin: origin, Err: err})
	}
}

// Add merges o into s, keeping the first problems.
func (s *Stats) Add(o Stats) {
	s.Records += o.Records
	s.Bad += o.Bad
	for _, p := range o.Problems {
		if len(s.Problems) >= MaxProblems {
			break
		}
		s.Problems = append(s.Problems, p)
	}
}

const (
	// maxValue bounds one JSON value held in memory (a record, or a whole input that is not a
	// log file). CloudTrail records are at most a few hundred KB.
	maxValue  = 64 << 20
	readChunk = 256 << 10
	slabSize  = 256 << 10
	// originChunk is the size of an origin arena: a kept finding pins at most this much
	originChunk = 4 << 10
)

// Decode reads any supported input from r: CloudTrail log files ({"Records":[...]}, plain or
// gzip, streamed so that file size does not bound memory), EventBridge events (one, an array,
// or JSON lines), single records, arrays and JSON lines of records, and LookupEvents or
// CloudTrail Lake output with CloudTrailEvent strings. It calls emit for each event in input
// order. Bad records and unreadable parts are counted and described in Stats with their
// position, and decoding goes on; only an error of emit or of reading r is returned.
func Decode(r io.Reader, name string, emit func(Event) error) (Stats, error) {
	src := &trackedReader{r: r}
	br := bufioPool.Get().(*bufio.Reader)
	br.Reset(src)
	defer func() { br.Reset(nil); bufioPool.Put(br) }()
	d := &decoder{name: name, emit: emit}
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, _ := gzipPool.Get().(*gzip.Reader)
		var err error
		if gz == nil {
			gz, err = gzip.NewReader(br)
		} else {
			err = gz.Reset(br)
		}
		if err != nil {
			if src.err != nil {
				return d.stats, fmt.Errorf("read %s: %w", name, src.err)
			}
			d.stats.problem(name, fmt.Errorf("gzip: %w", err))
			return d.stats, nil
		}
		defer func() { gz.Close(); gzipPool.Put(gz) }()
		in = gz
	}
	buf := streamPool.Get().(*[]byte)
	d.s = stream{r: in, line: 1, buf: (*buf)[:0]}
	defer func() {
		if cap(d.s.buf) <= 2*readChunk { // a window grown for a huge value is let go
			*buf = d.s.buf[:0]
			streamPool.Put(buf)
		}
	}()
	err := d.run()
	if err == nil && d.s.rerr != nil {
		if src.err != nil {
			return d.stats, fmt.Errorf("read %s: %w", name, src.err)
		}
		// The bytes arrived but do not inflate: a corrupt or truncated gzip file.
		d.stats.problem(d.at(len(d.s.buf)), fmt.Errorf("%w (after %d bytes; rest of input skipped)", d.s.rerr, d.s.base+int64(len(d.s.buf))))
	}
	return d.stats, err
}

// Readers and windows are reused across inputs: a scan of thousands of small files would
// otherwise allocate ~350 KB of them per file. Nothing emitted points into them.
var (
	bufioPool  = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}
	gzipPool   sync.Pool // *gzip.Reader
	streamPool = sync.Pool{New: func() any { b := make([]byte, 0, readChunk); return &b }}
)

// trackedReader remembers the underlying reader's own error, to tell a failed read (worth
// retrying) from bad content.
type trackedReader struct {
	r   io.Reader
	err error
}

func (t *trackedReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// stream is a sliding window over the input; values are parsed in place inside it.
type stream struct {
	r    io.Reader
	buf  []byte // buf[pos:] is unconsumed
	pos  int
	eof  bool
	rerr error
	base int64 // input offset of buf[0]
	line int   // line number at buf[lpos]
	lpos int
	// lastWasNewline tells whether the byte before buf[0] was a newline.
	lastWasNewline bool
}

// more reads more input, moving unconsumed bytes to the front. It reports whether anything
// may still come.
func (s *stream) more() bool {
	if s.eof || s.rerr != nil {
		return false
	}
	if s.pos > 0 {
		s.lineAt(s.pos)
		s.lastWasNewline = s.buf[s.pos-1] == '\n'
		n := copy(s.buf, s.buf[s.pos:])
		s.buf = s.buf[:n]
		s.base += int64(s.pos)
		s.lpos -= s.pos
		s.pos = 0
	}
	if cap(s.buf)-len(s.buf) < readChunk/2 {
		nb := make([]byte, len(s.buf), max(2*cap(s.buf), len(s.buf)+readChunk))
		copy(nb, s.buf)
		s.buf = nb
	}
	for range 100 {
		n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		if err == io.EOF {
			s.eof = true
			return n > 0
		}
		if err != nil {
			s.rerr = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	s.rerr = io.ErrNoProgress
	return false
}

// lineAt returns the 1-based line of buffer offset off, moving the line cursor there.
func (s *stream) lineAt(off int) int {
	if off >= s.lpos {
		s.line += bytes.Count(s.buf[s.lpos:off], newline)
	} else {
		s.line -= bytes.Count(s.buf[off:s.lpos], newline)
	}
	s.lpos = off
	return s.line
}

var newline = []byte{'\n'}

var errTooLarge = fmt.Errorf("value larger than %d MB", maxValue>>20)

// need runs parse over the unconsumed input, reading more while parse reports errShort. The
// offsets parse returns are relative to the unconsumed input.
func (d *decoder) need(parse func(b []byte) (int, error)) (int, error) {
	for {
		end, err := parse(d.s.buf[d.s.pos:])
		if !errors.Is(err, errShort) {
			return end, err
		}
		if len(d.s.buf)-d.s.pos > maxValue {
			return end, errTooLarge
		}
		if !d.s.more() {
			if d.s.rerr != nil {
				return end, errRead
			}
			return end, err
		}
	}
}

// errRead stops decoding when the input cannot be read; Decode reports why.
var errRead = errors.New("read failed")

type decoder struct {
	name  string
	emit  func(Event) error
	s     stream
	stats Stats
	slab  []byte
	obuf  []byte // builds origins
	// origins is the arena of origin strings (see originString)
	origins []byte
	// emitErr is set when emit fails; it ends decoding.
	emitErr error
}

// at names the position of buffer offset off; it is the origin of every JSON-lines record,
// so it comes from the arena.
func (d *decoder) at(off int) string {
	d.obuf = strconv.AppendInt(append(append(d.obuf[:0], d.name...), " line "...), int64(d.s.lineAt(off)), 10)
	return d.originString(d.obuf)
}

func (d *decoder) run() error {
	// After a bad top-level value, lines are skipped until one starts with '{' or '[' in its
	// first column, where the next JSON line would start; every value tried and failed counts.
	resync := false
	// a byte order mark, as some Windows tools write, is not content
	for len(d.s.buf) < 3 && d.s.more() {
	}
	if bytes.HasPrefix(d.s.buf, []byte("\xef\xbb\xbf")) {
		d.s.pos = 3
	}
	for {
		i := skipSpace(d.s.buf, d.s.pos)
		if i >= len(d.s.buf) {
			d.s.pos = i
			if !d.s.more() {
				return nil // at the end, or Decode reports the read error
			}
			continue
		}
		d.s.pos = i
		c := d.s.buf[i]
		if resync && (c != '{' && c != '[' || !d.lineStart(i)) {
			d.skipLine()
			continue
		}
		var err error
		switch c {
		case '{':
			var logFile bool
			logFile, err = d.startsWithRecords()
			if err == nil {
				if logFile {
					err = d.logFile()
					if err == nil || err == d.emitErr {
						return err
					}
					if errors.Is(err, errRead) {
						return nil // Decode reports the read error
					}
					// a broken log file cannot be resynchronised: the rest is skipped
					d.stats.problem(d.problemAt(err, -1), fmt.Errorf("%w (rest of input skipped)", syntaxOnly(err)))
					return nil
				}
				err = d.topValue()
			}
		case '[':
			err = d.topArray()
			if errors.Is(err, errRead) {
				return nil
			}
			if err != nil && err != d.emitErr {
				d.stats.problem(d.problemAt(err, -1), fmt.Errorf("%w (rest of input skipped)", syntaxOnly(err)))
				return nil
			}
		default:
			err = errAt(0, "invalid character %q: not JSON", c)
		}
		if err == nil {
			resync = false
			continue
		}
		if err == d.emitErr {
			return err
		}
		if errors.Is(err, errRead) {
			return nil
		}
		d.stats.problem(d.problemAt(err, d.s.pos), syntaxOnly(err))
		resync = true
		d.skipLine()
	}
}

// lineStart reports whether buffer offset i is at the start of a line.
func (d *decoder) lineStart(i int) bool {
	if i == 0 {
		return d.s.base == 0 || d.s.lastWasNewline
	}
	return d.s.buf[i-1] == '\n'
}

// problemAt names where err happened. For a top-level value starting at buffer offset start
// (-1 for none), the place is the value's line, and the line of the error is added to it.
func (d *decoder) problemAt(err error, start int) string {
	off := d.s.pos
	var se *syntaxError
	switch {
	case errors.As(err, &se):
		off = d.s.pos + se.off
	case errors.Is(err, errShort):
		off = len(d.s.buf)
	}
	if start < 0 {
		return d.at(off)
	}
	startLine := d.s.lineAt(start)
	if errLine := d.s.lineAt(off); errLine != startLine {
		return d.name + " line " + strconv.Itoa(startLine) + " (error at line " + strconv.Itoa(errLine) + ")"
	}
	return d.name + " line " + strconv.Itoa(startLine)
}

// syntaxOnly gives the error to show: offsets are replaced by the line in problemAt.
func syntaxOnly(err error) error {
	var se *syntaxError
	if errors.As(err, &se) {
		return errors.New(se.msg)
	}
	return err
}

// skipLine consumes input up to and including the next newline after the current position.
func (d *decoder) skipLine() {
	for {
		for k := d.s.pos + 1; k < len(d.s.buf); k++ {
			if d.s.buf[k] == '\n' {
				d.s.pos = k + 1
				return
			}
		}
		d.s.pos = len(d.s.buf)
		if !d.s.more() {
			return
		}
	}
}

// startsWithRecords reports whether the object at the current position starts with the
// "Records" member, as CloudTrail writes log files; those are streamed record by record.
func (d *decoder) startsWithRecords() (bool, error) {
	var key []byte
	var escaped bool
	_, err := d.need(func(b []byte) (int, error) {
		var next int
		var err error
		key, escaped, next, err = readKey(b, 1)
		if err == nil || !errors.Is(err, errShort) {
			return next, err
		}
		if skipSpace(b, 1) < len(b) && b[skipSpace(b, 1)] == '}' {
			return 0, nil // {}: an empty object
		}
		return next, err
	})
	if err != nil {
		return false, err
	}
	return key != nil && keyIs(key, escaped, "Records"), nil
}

// logFile streams {"Records":[...], ...}: each record is decoded on its own.
func (d *decoder) logFile() error {
	// `{ "Records" : [`
	end, err := d.need(func(b []byte) (int, error) {
		_, _, next, err := readKey(b, 1)
		if err != nil {
			return next, err
		}
		next = skipSpace(b, next)
		if next >= len(b) {
			return next, errShort
		}
		if b[next] != '[' {
			return next, errAt(next, "Records is not an array")
		}
		return next + 1, nil
	})
	if err != nil {
		return err
	}
	d.s.pos += end
	if err := d.elements(d.name+" record ", d.recordAt); err != nil {
		return err
	}
	// the members after Records, up to the closing brace
	end, err = d.need(func(b []byte) (int, error) {
		i := skipSpace(b, 0)
		for {
			if i >= len(b) {
				return i, errShort
			}
			switch b[i] {
			case '}':
				return i + 1, nil
			case ',':
				next, err := skipKey(b, i+1)
				if err != nil {
					return next, err
				}
				if i, err = skipValue(b, next); err != nil {
					return i, err
				}
				i = skipSpace(b, i)
			default:
				return i, errAt(i, "invalid character %q after Records, want ',' or '}'", b[i])
			}
		}
	})
	if err != nil {
		return err
	}
	d.s.pos += end
	return nil
}

// elements walks the elements of an array whose '[' was consumed, calling each with the
// element's origin when the unconsumed input starts with the element; each consumes it.
func (d *decoder) elements(prefix string, each func(origin string) error) error {
	for n := 1; ; n++ {
		end, err := d.need(func(b []byte) (int, error) {
			i := skipSpace(b, 0)
			if i >= len(b) {
				return i, errShort
			}
			if n > 1 {
				switch b[i] {
				case ']':
					return i, nil
				case ',':
					i = skipSpace(b, i+1)
				default:
					return i, errAt(i, "invalid character %q after array element, want ',' or ']'", b[i])
				}
				if i >= len(b) {
					return i, errShort
				}
			}
			return i, nil
		})
		if err != nil {
			return err
		}
		d.s.pos += end
		if d.s.buf[d.s.pos] == ']' {
			d.s.pos++
			return nil
		}
		d.obuf = strconv.AppendInt(append(d.obuf[:0], prefix...), int64(n), 10)
		if err := each(d.originString(d.obuf)); err != nil {
			return err
		}
	}
}

// recordAt decodes the record at the start of the unconsumed input and consumes it.
func (d *decoder) recordAt(origin string) error {
	var f fields
	if d.s.pos < len(d.s.buf) && d.s.buf[d.s.pos] != '{' {
		end, err := d.need(func(b []byte) (int, error) { return skipValue(b, 0) })
		if err != nil {
			return err
		}
		d.stats.problem(origin, errors.New("record is not a JSON object"))
		d.s.pos += end
		return nil
	}
	end, err := d.need(func(b []byte) (int, error) { return scanObject(b, 0, &f) })
	if err != nil {
		return err
	}
	rec := d.s.buf[d.s.pos : d.s.pos+end]
	d.s.pos += end
	return d.record(rec, &f, origin)
}

// record lifts a record (f holds spans relative to rec) and emits it.
func (d *decoder) record(rec []byte, f *fields, origin string) error {
	if !f.has[fEventName] && !f.has[fEventSource] && !f.has[fEventID] {
		d.stats.problem(origin, errors.New("not a CloudTrail record (no eventName, eventSource or eventID)"))
		return nil
	}
	if es, _ := rawContent(f.value(rec, fEventSource)); bytes.HasPrefix(es, []byte("aws:")) {
		d.stats.problem(origin, fmt.Errorf("an %s notification record, not a CloudTrail record", es))
		return nil
	}
	dst := d.slabTail(len(rec) + 512)
	env, t := appendEnvelope(dst, rec, f)
	env = d.commit(dst, env)
	return d.send(Event{Envelope: env, Origin: origin, Time: t})
}

func (d *decoder) send(e Event) error {
	if err := d.emit(e); err != nil {
		d.emitErr = err
		return err
	}
	d.stats.Records++
	return nil
}

// slabTail returns room to build an envelope of up to about n bytes. Envelopes are carved
// out of shared slabs and never overwritten, so emitted envelopes stay valid (a finding may
// keep its record) while costing few allocations.
func (d *decoder) slabTail(n int) []byte {
	if cap(d.slab)-len(d.slab) < n {
		if n > slabSize/4 {
			return make([]byte, 0, n)
		}
		d.slab = make([]byte, 0, slabSize)
	}
	return d.slab[len(d.slab):len(d.slab)]
}

// originString returns b as a string carved out of a small arena: origins cost one
// allocation per ~40 records instead of one each. The arena is small (not the envelope slab)
// because a finding that is kept keeps its origin, and with it the whole chunk, alive. Bytes
// handed out are never written again, which is what makes the strings immutable.
func (d *decoder) originString(b []byte) string {
	if cap(d.origins)-len(d.origins) < len(b) {
		d.origins = make([]byte, 0, max(originChunk, len(b)))
	}
	start := len(d.origins)
	d.origins = append(d.origins, b...)
	out := d.origins[start:]
	return unsafe.String(unsafe.SliceData(out), len(out))
}

// commit keeps out, built by appending to dst from slabTail, in the slab when append did not
// have to move it, and caps it so that appending to an envelope cannot touch the next one.
func (d *decoder) commit(dst, out []byte) []byte {
	if cap(out) == cap(dst) && cap(dst) == cap(d.slab)-len(d.slab) && len(out) > 0 &&
		&d.slab[:len(d.slab)+1][len(d.slab)] == &out[0] {
		d.slab = d.slab[:len(d.slab)+len(out)]
	}
	return out[:len(out):len(out)]
}

// topValue decodes a whole top-level object that is not a streamed log file.
func (d *decoder) topValue() error {
	var f fields
	end, err := d.need(func(b []byte) (int, error) { return scanObject(b, 0, &f) })
	if err != nil {
		return err
	}
	v := d.s.buf[d.s.pos : d.s.pos+end]
	origin := d.at(d.s.pos)
	d.s.pos += end
	return d.classify(v, &f, origin)
}

// topArray decodes a top-level array: of records, events, or anything classify accepts.
func (d *decoder) topArray() error {
	d.s.pos++
	return d.elements(d.name+" record ", func(origin string) error {
		if d.s.buf[d.s.pos] != '{' {
			end, err := d.need(func(b []byte) (int, error) { return skipValue(b, 0) })
			if err != nil {
				return err
			}
			d.s.pos += end
			d.stats.problem(origin, errors.New("array element is not a JSON object"))
			return nil
		}
		var f fields
		end, err := d.need(func(b []byte) (int, error) { return scanObject(b, 0, &f) })
		if err != nil {
			return err
		}
		v := d.s.buf[d.s.pos : d.s.pos+end]
		d.s.pos += end
		return d.classify(v, &f, origin)
	})
}

// classify decides what a complete object is and emits its events.
func (d *decoder) classify(v []byte, f *fields, origin string) error {
	switch {
	case f.has[fRecords]:
		return d.inMemoryArray(f.value(v, fRecords), "Records", origin, d.record)
	case f.has[fDetailType] && f.has[fDetail]:
		var t time.Time
		if ts := f.str(v, fTime); ts != "" {
			t, _ = ParseTime(ts)
		}
		dst := d.slabTail(len(v))
		env := d.commit(dst, append(dst, v...))
		return d.send(Event{Envelope: env, Origin: origin, Time: t})
	case f.has[fCloudTrailEvent]:
		return d.embedded(f.value(v, fCloudTrailEvent), origin)
	case f.has[fEvents]:
		return d.inMemoryArray(f.value(v, fEvents), "Events", origin, d.classify)
	case f.has[fQueryResultRows]:
		return d.lakeRows(f.value(v, fQueryResultRows), origin)
	}
	return d.record(v, f, origin)
}

// embedded decodes a record held as a JSON string (LookupEvents' CloudTrailEvent).
func (d *decoder) embedded(s []byte, origin string) error {
	if !isString(s) {
		d.stats.problem(origin, errors.New("CloudTrailEvent is not a string"))
		return nil
	}
	rec := []byte(stringContent(s))
	var f fields
	end, err := scanObject(rec, 0, &f)
	if err == nil && skipSpace(rec, end) != len(rec) {
		err = errors.New("data after the record")
	}
	if err != nil {
		d.stats.problem(origin, fmt.Errorf("CloudTrailEvent: %w", syntaxOnly(err)))
		return nil
	}
	start := skipSpace(rec, 0)
	f.rebase(start)
	return d.record(rec[start:end], &f, origin)
}

// inMemoryArray walks the array member name of the object at origin, already in memory,
// handing each element that is an object to fn.
func (d *decoder) inMemoryArray(arr []byte, name, origin string, fn func([]byte, *fields, string) error) error {
	if len(arr) == 0 || arr[0] != '[' {
		d.stats.problem(origin, fmt.Errorf("%s is not an array", name))
		return nil
	}
	prefix := origin + " record "
	var f fields // one for all elements: handed to fn, it would escape once per element
	i := skipSpace(arr, 1)
	for n := 1; i < len(arr) && arr[i] != ']'; n++ {
		d.obuf = strconv.AppendInt(append(d.obuf[:0], prefix...), int64(n), 10)
		origin := d.originString(d.obuf)
		end, err := scanObject(arr, i, &f)
		if err != nil {
			// the array was validated as a whole, so this element is simply not an object
			end, _ = skipValue(arr, i)
			d.stats.problem(origin, errors.New("not a JSON object"))
		} else {
			f.rebase(i)
			if err := fn(arr[i:end], &f, origin); err != nil {
				return err
			}
		}
		i = skipSpace(arr, end)
		if i < len(arr) && arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
	}
	return nil
}

// lakeRows decodes CloudTrail Lake query results: each row is a list of one-column objects.
// A column holding a whole event as a JSON string is used as the record; otherwise the row's
// columns form the record.
func (d *decoder) lakeRows(rows []byte, origin string) error {
	if len(rows) == 0 || rows[0] != '[' {
		d.stats.problem(origin, errors.New("QueryResultRows is not an array"))
		return nil
	}
	n := 0
	return eachElement(rows, func(row []byte) error {
		n++
		origin := origin + " row " + strconv.Itoa(n)
		if len(row) == 0 || row[0] != '[' {
			d.stats.problem(origin, errors.New("row is not an array"))
			return nil
		}
		merged := []byte{'{'}
		var whole []byte // a column holding the whole event, scanned into wholeFields
		var wholeFields fields
		eachElement(row, func(col []byte) error {
			if len(col) < 2 || col[0] != '{' || skipSpace(col, 1) == len(col)-1 {
				return nil
			}
			inner := col[1 : len(col)-1]
			if s := memberFirstValue(col); isString(s) {
				c := []byte(stringContent(s))
				var f fields
				if end, err := scanObject(c, 0, &f); err == nil && skipSpace(c, end) == len(c) &&
					(f.has[fEventName] || f.has[fEventSource]) {
					start := skipSpace(c, 0)
					f.rebase(start)
					whole, wholeFields = c[start:end], f
				}
			}
			if len(merged) > 1 {
				merged = append(merged, ',')
			}
			merged = append(merged, inner...)
			return nil
		})
		if whole != nil {
			return d.record(whole, &wholeFields, origin)
		}
		rec := append(merged, '}')
		var f fields
		end, err := scanObject(rec, 0, &f)
		if err != nil {
			d.stats.problem(origin, syntaxOnly(err))
			return nil
		}
		return d.record(rec[:end], &f, origin)
	})
}

// memberFirstValue returns the value of the first member of an object.
func memberFirstValue(obj []byte) []byte {
	_, _, next, err := readKey(obj, 1)
	if err != nil {
		return nil
	}
	vs := skipSpace(obj, next)
	end, err := skipValue(obj, vs)
	if err != nil {
		return nil
	}
	return obj[vs:end]
}

// eachElement walks an in-memory array (validated already) of any values.
func eachElement(arr []byte, fn func([]byte) error) error {
	i := skipSpace(arr, 1)
	for i < len(arr) && arr[i] != ']' {
		end, err := skipValue(arr, i)
		if err != nil {
			return nil // validated before: cannot happen
		}
		if err := fn(arr[i:end]); err != nil {
			return err
		}
		i = skipSpace(arr, end)
		if i < len(arr) && arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
	}
	return nil
}
