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
	// Record is the record inside Envelope (its detail) and Members are its top-level
	// members, in order and repeats included, as spans of Record, when the decoder lifted the
	// record from a log file or a stream of records, none of its keys has escapes and its
	// members lie in its first 64 KB: a consumer reads a member without splitting the record
	// again. Both are nil otherwise. Record is valid JSON: the decoder checked it.
	Record  []byte
	Members []Member
	// Compact says Record has no white space between its tokens, which the decoder saw while
	// checking it: written out as JSON it is itself when it is also valid UTF-8. False tells
	// nothing: such a record may still be compact.
	Compact bool
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
	Records int // events emitted
	Bad     int // bad records and unreadable parts, faults included
	// Faults counts the places where the input could not be read as JSON (a syntax error, a
	// value over the size or depth limit, a cut-off or corrupt gzip stream, the inflated-size
	// budget): each cost the rest of a value, or the rest of the input. An input without
	// faults was read whole.
	Faults   int
	Inflated int64     // bytes decoded, after decompression
	Problems []Problem // the first MaxProblems problems
}

// Whole reports whether the input was read to its end as JSON: its only problems, if any,
// are well-formed values that are not records.
func (s Stats) Whole() bool { return s.Faults == 0 }

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
	s.Faults += o.Faults
	s.Inflated += o.Inflated
	for _, p := range o.Problems {
		if len(s.Problems) >= MaxProblems {
			break
		}
		s.Problems = append(s.Problems, p)
	}
}

// Limits bound what one input may cost. A hostile or broken input (a gzip bomb, a record of
// millions of elements, nesting thousands deep) is cut off at a limit and reported as a fault,
// with every record before it decoded; it never takes unbounded memory or time.
type Limits struct {
	// MaxInflated bounds the bytes read from one input after decompression; 0 means
	// DefaultMaxInflated. A gzip file inflating past it is cut off there.
	MaxInflated int64
	// MaxRecord bounds one value held in memory: a record, or a top-level value that is not a
	// streamed log file; 0 means DefaultMaxRecord. A larger record is skipped without being
	// held, and decoding resumes at the next record. Parsing a record costs a small multiple
	// of its size, so this also bounds the work spent on one record.
	MaxRecord int
	// NoIDs leaves the id of every envelope Decode makes as zeros, of the same UUID shape,
	// instead of the hash of its eventID (see appendID): for a consumer that reads no id, such
	// as a scan whose rules' patterns never test it (detect.Engine.ReadsEnvelopeID). Hashing
	// is about 2% of a scan's CPU.
	NoIDs bool
}

const (
	// DefaultMaxInflated is far above any CloudTrail log file (a five-minute file of one
	// account and region): 1 GiB is millions of records.
	DefaultMaxInflated = 1 << 30
	// DefaultMaxRecord is far above any CloudTrail record: CloudTrail omits request
	// parameters and response elements over 100 KB, and EventBridge events are at most 256 KB.
	DefaultMaxRecord = 16 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxInflated <= 0 {
		l.MaxInflated = DefaultMaxInflated
	}
	if l.MaxRecord <= 0 {
		l.MaxRecord = DefaultMaxRecord
	}
	return l
}

const (
	readChunk = 256 << 10
	slabSize  = 256 << 10
	// originChunk is the size of an origin arena: a kept finding pins at most this much
	originChunk = 4 << 10
	// memberChunk is the number of member spans kept per allocation: 64 KB, a few hundred records
	memberChunk = 4 << 10
)

// Decode is Limits{}.Decode: decoding with the default limits.
func Decode(r io.Reader, name string, emit func(Event) error) (Stats, error) {
	return Limits{}.Decode(r, name, emit)
}

// Decode reads any supported input from r: CloudTrail log files ({"Records":[...]}, plain or
// gzip, streamed so that file size does not bound memory), EventBridge events (one, an array,
// or JSON lines), single records, arrays and JSON lines of records, and LookupEvents or
// CloudTrail Lake output with CloudTrailEvent strings. It calls emit for each event in input
// order. Bad records and unreadable parts are counted and described in Stats with their
// position, and decoding goes on: past a bad element of an array at the next element, past a
// bad JSON line at the next line. Only an error of emit or of reading r is returned.
func (l Limits) Decode(r io.Reader, name string, emit func(Event) error) (Stats, error) {
	l = l.withDefaults()
	src := &trackedReader{r: r}
	br := bufioPool.Get().(*bufio.Reader)
	br.Reset(src)
	defer func() { br.Reset(nil); bufioPool.Put(br) }()
	d := &decoder{name: name, emit: emit, maxRecord: l.MaxRecord, noIDs: l.NoIDs}
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
			d.fault(name, fmt.Errorf("gzip: %w", err))
			return d.stats, nil
		}
		defer func() { gz.Close(); gzipPool.Put(gz) }()
		in = gz
	}
	buf := streamPool.Get().(*[]byte)
	d.s = stream{r: &budget{r: in, left: l.MaxInflated}, line: 1, buf: (*buf)[:0], max: l.MaxRecord + 2*readChunk}
	defer func() {
		if cap(d.s.buf) <= 2*readChunk { // a window grown for a huge value is let go
			*buf = d.s.buf[:0]
			streamPool.Put(buf)
		}
	}()
	err := d.run()
	d.releaseSlab()
	d.stats.Inflated = d.s.base + int64(len(d.s.buf))
	if err == nil && d.s.rerr != nil {
		if src.err != nil {
			return d.stats, fmt.Errorf("read %s: %w", name, src.err)
		}
		// The bytes arrived but do not inflate (a corrupt or truncated gzip file), or inflate
		// past the budget.
		why := d.s.rerr
		if errors.Is(why, errBudget) {
			why = fmt.Errorf("larger than %s after decompression", sizeText(l.MaxInflated))
		}
		origin := d.name
		if d.elem > 0 {
			origin = d.elemOrigin(d.elem)
		}
		d.fault(origin, fmt.Errorf("%w: cut off at %s (rest of input skipped)", why, d.place(len(d.s.buf))))
	}
	return d.stats, err
}

// errBudget ends an input that inflates past Limits.MaxInflated.
var errBudget = errors.New("over the size budget")

// budget reads at most left bytes, then fails with errBudget if there is more.
type budget struct {
	r    io.Reader
	left int64
}

func (b *budget) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// the input may end exactly at the budget: only a further byte exceeds it
		var one [1]byte
		if n, err := b.r.Read(one[:]); n == 0 {
			return 0, err
		}
		return 0, errBudget
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// sizeText writes n bytes for people: 16 MiB, 1 GiB, 1500 bytes.
func sizeText(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + " GiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
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
	// max bounds the window's growth (0: none): a value over the record limit is found out
	// before the window holds much more than it.
	max int
}

// release lets go of a window grown for a huge value once nothing of it is unconsumed: what
// follows streams through a small one.
func (s *stream) release() {
	if s.pos == len(s.buf) && cap(s.buf) > 4*readChunk {
		s.lineAt(s.pos)
		s.lastWasNewline = s.pos > 0 && s.buf[s.pos-1] == '\n'
		s.base += int64(s.pos)
		s.lpos -= s.pos
		s.buf, s.pos = make([]byte, 0, readChunk), 0
	}
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
		size := max(2*cap(s.buf), len(s.buf)+readChunk)
		if s.max > 0 {
			size = min(size, max(s.max, len(s.buf)+readChunk))
		}
		nb := make([]byte, len(s.buf), size)
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

// errTooLarge is returned by need for a value over the decoder's maxRecord.
var errTooLarge = errors.New("value too large")

// need runs parse over the unconsumed input, reading more while parse reports errShort. The
// offsets parse returns are relative to the unconsumed input. Before each new attempt it reads
// at least as much again as the last one saw, so a value of n bytes is parsed about twice over
// in all, not once per chunk read: the work on a huge value stays linear in its size.
func (d *decoder) need(parse func(b []byte) (int, error)) (int, error) {
	for {
		seen := len(d.s.buf) - d.s.pos
		end, err := parse(d.s.buf[d.s.pos:])
		if !errors.Is(err, errShort) {
			if err == nil && end > d.maxRecord {
				return end, errTooLarge
			}
			return end, err
		}
		if seen > d.maxRecord {
			return end, errTooLarge
		}
		want := min(max(2*seen, seen+1), d.maxRecord+1)
		for len(d.s.buf)-d.s.pos < want {
			if !d.s.more() {
				break
			}
		}
		if len(d.s.buf)-d.s.pos == seen { // nothing more came
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
	name      string
	emit      func(Event) error
	maxRecord int
	noIDs     bool // Limits.NoIDs
	s         stream
	stats     Stats
	slab      []byte
	obuf      []byte // builds origins
	// origins is the arena of origin strings (see originString)
	origins []byte
	// members gathers a record's member spans; memberChunk is where they are kept (see
	// keepMembers)
	members, memberChunk []Member
	// emitErr is set when emit fails; it ends decoding.
	emitErr error
	// elem is the element being read of the array walked by elements (0 outside one), named
	// by elemPrefix and the element's number.
	elem       int
	elemPrefix string
}

// at names the position of buffer offset off; it is the origin of every JSON-lines record,
// so it comes from the arena.
func (d *decoder) at(off int) string {
	d.obuf = strconv.AppendInt(append(append(d.obuf[:0], d.name...), " line "...), int64(d.s.lineAt(off)), 10)
	return d.originString(d.obuf)
}

// fault records a place where the input could not be read as JSON.
func (d *decoder) fault(origin string, err error) {
	d.stats.Faults++
	d.stats.problem(origin, err)
}

// offset is the input offset (after decompression) of buffer offset off.
func (d *decoder) offset(off int) int64 { return d.s.base + int64(off) }

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
					if err = d.logFile(); err != nil {
						return d.stop(err)
					}
					resync = false
					continue
				}
				err = d.topValue()
			}
		case '[':
			if err = d.topArray(); err != nil {
				return d.stop(err)
			}
			resync = false
			continue
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
		d.fault(d.problemAt(err, d.s.pos), d.reason(err))
		resync = true
		d.skipLine()
	}
}

// stop ends decoding after a streamed array (a log file's Records, a top-level array): when
// its structure broke where no next element can be found, the rest of the input is skipped.
func (d *decoder) stop(err error) error {
	switch {
	case err == nil || err == d.emitErr:
		return err
	case errors.Is(err, errRead), err == errSkippedToEnd:
		return nil // Decode reports the read error; a skipped value's fault is reported
	}
	origin := d.problemAt(err, -1)
	if d.elem > 0 {
		origin = d.elemOrigin(d.elem)
		d.elem = 0
	}
	d.fault(origin, fmt.Errorf("%w at %s (rest of input skipped)", d.reason(err), d.place(d.errOffset(err))))
	return nil
}

// place names buffer offset off for people: its line and its byte offset in the (inflated)
// input. The line counts for pretty-printed files, the byte for one-line log files.
func (d *decoder) place(off int) string {
	return "line " + strconv.Itoa(d.s.lineAt(off)) + ", byte " + strconv.FormatInt(d.offset(off), 10)
}

// reason is the error to show for err: offsets are replaced by positions, and a value over
// the size limit says the limit.
func (d *decoder) reason(err error) error {
	if errors.Is(err, errTooLarge) {
		return fmt.Errorf("value larger than %s", sizeText(int64(d.maxRecord)))
	}
	return syntaxOnly(err)
}

// errOffset is the buffer offset where err, from parsing the unconsumed input, happened.
func (d *decoder) errOffset(err error) int {
	var se *syntaxError
	switch {
	case errors.As(err, &se):
		return d.s.pos + se.off
	case errors.Is(err, errShort):
		return len(d.s.buf)
	}
	return d.s.pos
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
	off := d.errOffset(err)
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
		d.s.release()
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
				var spaced bool // not asked: the log file is not written out
				_, _, next, err := scanKey(b, i+1, &spaced)
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
// element's origin when the unconsumed input starts with the element; each consumes it. An
// element that is not valid JSON, or is over the size or depth limit, is a fault: it is
// skipped without being parsed or held (skipLoose), and the walk resumes at the next element.
func (d *decoder) elements(prefix string, each func(origin string) error) error {
	d.elemPrefix = prefix
	for n := 1; ; n++ {
		d.elem = n
		// `, element` or `]`, white space streamed past however long it is
		if !d.skipSpaces() {
			return d.ended()
		}
		if n > 1 {
			switch c := d.s.buf[d.s.pos]; c {
			case ']':
			case ',':
				d.s.pos++
				if !d.skipSpaces() {
					return d.ended()
				}
			default:
				return errAt(0, "invalid character %q after array element, want ',' or ']'", c)
			}
		}
		if d.s.buf[d.s.pos] == ']' {
			d.s.pos++
			d.elem = 0
			return nil
		}
		d.obuf = strconv.AppendInt(append(d.obuf[:0], prefix...), int64(n), 10)
		err := each(d.originString(d.obuf))
		if err == nil {
			continue
		}
		var se *syntaxError
		if !errors.As(err, &se) && !errors.Is(err, errTooLarge) {
			return err // emit failed, the input ended or could not be read
		}
		at := d.place(d.errOffset(err))
		if !d.skipLoose() {
			d.fault(d.elemOrigin(n), fmt.Errorf("%w at %s (rest of input skipped)", d.reason(err), at))
			return errSkippedToEnd
		}
		d.fault(d.elemOrigin(n), fmt.Errorf("%w at %s (element skipped; resumed at byte %d)", d.reason(err), at, d.offset(d.s.pos)))
	}
}

// skipSpaces consumes white space through the window, however much of it there is. It
// reports false when the input ends (or cannot be read) first.
func (d *decoder) skipSpaces() bool {
	for {
		d.s.pos = skipSpace(d.s.buf, d.s.pos)
		if d.s.pos < len(d.s.buf) {
			return true
		}
		if !d.s.more() {
			return false
		}
	}
}

// ended is the error for an input that ends where a value or a separator must come.
func (d *decoder) ended() error {
	if d.s.rerr != nil {
		return errRead
	}
	return errShort
}

// errSkippedToEnd ends decoding when the input ended inside a value being skipped; the fault
// is reported already.
var errSkippedToEnd = errors.New("input ended in a skipped value")

// elemOrigin names element n of the array being walked, for a problem.
func (d *decoder) elemOrigin(n int) string { return d.elemPrefix + strconv.Itoa(n) }

// skipLoose consumes the value at the current position without parsing it, to get past a
// value that is malformed or over a limit: it counts brackets outside strings (no recursion,
// however deep the nesting) and reads the input through the sliding window (no more of it
// held than a chunk), stopping before the ',', ']' or '}' that ends the value. It reports
// false when the input ends first.
func (d *decoder) skipLoose() bool {
	depth := 0
	inString, escaped := false, false
	for {
		b := d.s.buf
		for i := d.s.pos; i < len(b); i++ {
			c := b[i]
			if inString {
				switch {
				case escaped:
					escaped = false
				case c == '\\':
					escaped = true
				case c == '"':
					inString = false
				}
				continue
			}
			switch c {
			case '"':
				inString = true
			case '{', '[':
				depth++
			case '}', ']':
				if depth == 0 {
					d.s.pos = i
					return true
				}
				depth--
			case ',':
				if depth == 0 {
					d.s.pos = i
					return true
				}
			}
		}
		d.s.pos = len(b)
		d.s.release()
		if !d.s.more() {
			return false
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
	f.members = &d.members
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
	env, t := appendEnvelope(dst, rec, f, d.noIDs)
	env = d.commit(dst, env)
	e := Event{Envelope: env, Origin: origin, Time: t}
	if f.members != nil && !f.noMembers {
		e.Record = env[len(env)-1-len(rec) : len(env)-1 : len(env)-1] // appendEnvelope ends with the record and '}'
		e.Members = d.keepMembers(*f.members)
		e.Compact = !f.spaced
	}
	return d.send(e)
}

// keepMembers copies a record's member spans into a chunk shared by the records after it:
// one allocation per few hundred records, and nothing a garbage collector has to scan.
// Spans handed out are never written again.
func (d *decoder) keepMembers(ms []Member) []Member {
	if cap(d.memberChunk)-len(d.memberChunk) < len(ms) {
		d.memberChunk = make([]Member, 0, max(memberChunk, len(ms)))
	}
	start := len(d.memberChunk)
	d.memberChunk = append(d.memberChunk, ms...)
	return d.memberChunk[start:len(d.memberChunk):len(d.memberChunk)]
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
		d.slab = nil
		if s, _ := slabPool.Get().(*[]byte); s != nil && cap(*s)-len(*s) >= n {
			d.slab = *s
		}
		if d.slab == nil {
			d.slab = make([]byte, 0, slabSize)
		}
	}
	return d.slab[len(d.slab):len(d.slab)]
}

// slabPool holds the slab an input ended with, for the next input to go on carving: a scan
// of many small log files would otherwise start a slab per file and leave most of its last
// one unused. Only the part past len is ever written again, and none of it was handed out.
var slabPool sync.Pool // *[]byte

// minSlabRest is the least room worth handing on to the next input: a few records.
const minSlabRest = 8 << 10

// releaseSlab hands the rest of the input's slab on to the next input.
func (d *decoder) releaseSlab() {
	if cap(d.slab)-len(d.slab) >= minSlabRest {
		s := d.slab
		d.slab = nil
		slabPool.Put(&s)
	}
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
	f := fields{members: &d.members}
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
		f := fields{members: &d.members}
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
	f := fields{members: &d.members} // one for all elements: handed to fn, it would escape once per element
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
