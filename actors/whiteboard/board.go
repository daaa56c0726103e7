package whiteboard

import (
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"liveroom/persistence"
	"liveroom/proto/pb"
)

// Limits bound what one op may carry and how large a board may grow.
type Limits struct {
	// MaxCoord bounds every coordinate: |x|, |y| <= MaxCoord board units.
	MaxCoord int32
	// MaxPoints bounds the numbers in one element (x and y count separately).
	MaxPoints int
	MaxText   int
	MaxWidth  uint32
	MaxPages  int
	// MaxElements bounds the elements a board keeps, erased ones included
	// (they stay for undo).
	MaxElements int
	// MaxIDs bounds the elements one erase or move may name.
	MaxIDs int
	// HistoryDepth is how many ops one member can undo.
	HistoryDepth int
}

// DefaultLimits are the limits of a board unless the server says otherwise.
func DefaultLimits() Limits {
	return Limits{MaxCoord: 100000, MaxPoints: 4000, MaxText: 500, MaxWidth: 200, MaxPages: 200,
		MaxElements: 100000, MaxIDs: 2000, HistoryDepth: 100}
}

// Board is a whiteboard's state: pages, elements and each member's undo
// history. It is the deterministic result of applying ops in seq order, so
// the snapshot plus the ops after it rebuild exactly the same board.
//
// Elements are never changed in place once added: a move or an erase puts a
// changed copy in their slot, so an element already handed to a session
// actor for encoding is never written to again.
type Board struct {
	seq      uint64
	open     bool
	visitors bool
	modeSet  bool
	page     uint32
	pages    []*pb.WbPage
	elems    []*pb.WbElement
	index    map[uint64]int
	history  map[string]*pb.WbHistory
	// members in the order their history first appeared, so snapshots are
	// byte-for-byte the same for the same log.
	order []string
}

// NewBoard returns an empty board with one blank page.
func NewBoard() *Board {
	return &Board{pages: []*pb.WbPage{{}}, index: map[uint64]int{}, history: map[string]*pb.WbHistory{}}
}

// FromSnapshot rebuilds a board from its stored form.
func FromSnapshot(s *pb.WbBoard) *Board {
	b := NewBoard()
	b.seq, b.open, b.visitors, b.modeSet, b.page = s.Seq, s.Open, s.Visitors, s.ModeSet, s.Page
	if len(s.Pages) > 0 {
		b.pages = s.Pages
	}
	b.elems = s.Elements
	for i, e := range b.elems {
		b.index[e.Id] = i
	}
	for _, h := range s.History {
		b.history[h.MemberId] = h
		b.order = append(b.order, h.MemberId)
	}
	return b
}

// Seq is the seq of the last op applied.
func (b *Board) Seq() uint64 { return b.seq }

// Open reports whether the agent has the board shown.
func (b *Board) Open() bool { return b.open }

// Visitors reports whether visitors may draw, given the room's setting.
func (b *Board) Visitors(roomDefault bool) bool {
	if b.modeSet {
		return b.visitors
	}
	return roomDefault
}

// Len is the number of elements, erased ones included.
func (b *Board) Len() int { return len(b.elems) }

// Snapshot returns the board's stored form (erased elements and histories
// included). The slices are copies; the elements are shared and immutable.
func (b *Board) Snapshot() *pb.WbBoard {
	s := &pb.WbBoard{Seq: b.seq, Open: b.open, Visitors: b.visitors, ModeSet: b.modeSet, Page: b.page,
		Pages: append([]*pb.WbPage(nil), b.pages...), Elements: append([]*pb.WbElement(nil), b.elems...)}
	for _, id := range b.order {
		h := b.history[id]
		s.History = append(s.History, &pb.WbHistory{MemberId: id,
			Done: append([]*pb.WbOp(nil), h.Done...), Undone: append([]*pb.WbOp(nil), h.Undone...)})
	}
	return s
}

// View returns what a client is sent: the live elements only.
func (b *Board) View() *pb.WbBoard {
	s := &pb.WbBoard{Seq: b.seq, Open: b.open, Visitors: b.visitors, ModeSet: b.modeSet, Page: b.page,
		Pages: append([]*pb.WbPage(nil), b.pages...)}
	for _, e := range b.elems {
		if !e.Deleted {
			s.Elements = append(s.Elements, e)
		}
	}
	return s
}

// Elements returns the live elements in the order they were added.
func (b *Board) Elements() []*pb.WbElement { return b.View().Elements }

func errorf(code, msg string) *pb.Error { return &pb.Error{Code: code, Message: msg} }

// Who is the member an op comes from.
type Who struct {
	MemberID string
	Role     pb.Role
}

func (w Who) agent() bool { return w.Role == pb.Role_ROLE_AGENT }

// agentOnly are the ops only the agent may make, whatever the mode.
func agentOnly(k pb.WbOpKind) bool {
	switch k {
	case pb.WbOpKind_WB_OP_OPEN, pb.WbOpKind_WB_OP_CLOSE, pb.WbOpKind_WB_OP_MODE,
		pb.WbOpKind_WB_OP_CLEAR, pb.WbOpKind_WB_OP_PAGES_ADD:
		return true
	}
	return false
}

// CanDraw reports whether who may change the board now.
func (b *Board) CanDraw(who Who, roomVisitors bool) bool {
	return who.agent() || who.Role == pb.Role_ROLE_VISITOR && b.Visitors(roomVisitors)
}

// Check says whether who may make op, and whether op is well formed; it does
// not change the board. imageOK reports whether an image id exists.
func (b *Board) Check(op *pb.WbOp, who Who, roomVisitors bool, lim Limits, imageOK func(string) bool) *pb.Error {
	if op == nil {
		return errorf("invalid", "The whiteboard op is empty.")
	}
	k := op.Kind
	if k <= pb.WbOpKind_WB_OP_UNSPECIFIED || k > pb.WbOpKind_WB_OP_PAGES_ADD {
		return errorf("invalid", "Unknown whiteboard op.")
	}
	if agentOnly(k) && !who.agent() {
		return errorf("forbidden", "Only the agent can do that on the whiteboard.")
	}
	if !b.CanDraw(who, roomVisitors) {
		return errorf("whiteboard_agent_only", "Only the agent can draw on this whiteboard.")
	}
	if !b.open && k != pb.WbOpKind_WB_OP_OPEN && k != pb.WbOpKind_WB_OP_MODE {
		return errorf("whiteboard_closed", "The whiteboard is not open.")
	}
	switch k {
	case pb.WbOpKind_WB_OP_ADD:
		if len(b.elems) >= lim.MaxElements && !b.anyErased() {
			return errorf("board_full", "The whiteboard is full; erase or clear something first.")
		}
		return b.checkElement(op.Element, lim, imageOK)
	case pb.WbOpKind_WB_OP_ERASE, pb.WbOpKind_WB_OP_MOVE:
		if len(op.Ids) == 0 || len(op.Ids) > lim.MaxIDs {
			return errorf("invalid", "Name 1 to "+strconv.Itoa(lim.MaxIDs)+" elements.")
		}
		if k == pb.WbOpKind_WB_OP_MOVE {
			return b.checkMove(op, lim)
		}
	case pb.WbOpKind_WB_OP_CLEAR:
		if !op.AllPages && int(op.Page) >= len(b.pages) {
			return errorf("invalid", "No such page.")
		}
	case pb.WbOpKind_WB_OP_UNDO:
		if h := b.history[who.MemberID]; h == nil || len(h.Done) == 0 {
			return errorf("nothing_to_undo", "Nothing of yours to undo.")
		}
	case pb.WbOpKind_WB_OP_REDO:
		if h := b.history[who.MemberID]; h == nil || len(h.Undone) == 0 {
			return errorf("nothing_to_redo", "Nothing of yours to redo.")
		}
	case pb.WbOpKind_WB_OP_PAGE_ADD:
		if len(b.pages) >= lim.MaxPages {
			return errorf("too_many_pages", "The whiteboard has "+strconv.Itoa(lim.MaxPages)+" pages, the most it can have.")
		}
	case pb.WbOpKind_WB_OP_PAGE_GO:
		if int(op.Page) >= len(b.pages) {
			return errorf("invalid", "No such page.")
		}
	case pb.WbOpKind_WB_OP_PAGES_ADD:
		if len(op.Pages) == 0 || len(b.pages)+len(op.Pages) > lim.MaxPages {
			return errorf("too_many_pages", "The whiteboard can have at most "+strconv.Itoa(lim.MaxPages)+" pages.")
		}
		for _, p := range op.Pages {
			if p == nil || !persistence.ValidID(p.BackgroundId) || (imageOK != nil && !imageOK(p.BackgroundId)) {
				return errorf("invalid", "A page background is not an image of this board.")
			}
		}
	}
	return nil
}

func (b *Board) checkElement(e *pb.WbElement, lim Limits, imageOK func(string) bool) *pb.Error {
	if e == nil {
		return errorf("invalid", "Nothing to add.")
	}
	if int(e.Page) >= len(b.pages) {
		return errorf("invalid", "No such page.")
	}
	n := len(e.Points)
	switch e.Shape {
	case pb.WbShape_WB_SHAPE_PEN:
		if n < 2 || n%2 != 0 || n > lim.MaxPoints {
			return errorf("invalid", "A stroke has 1 to "+strconv.Itoa(lim.MaxPoints/2)+" points.")
		}
	case pb.WbShape_WB_SHAPE_LINE, pb.WbShape_WB_SHAPE_ARROW, pb.WbShape_WB_SHAPE_RECT,
		pb.WbShape_WB_SHAPE_ELLIPSE, pb.WbShape_WB_SHAPE_IMAGE:
		if n != 4 {
			return errorf("invalid", "A shape has two corners.")
		}
	case pb.WbShape_WB_SHAPE_TEXT:
		if n != 2 {
			return errorf("invalid", "Text has one anchor point.")
		}
	default:
		return errorf("invalid", "Unknown shape.")
	}
	for _, v := range e.Points {
		if v > lim.MaxCoord || v < -lim.MaxCoord {
			return errorf("invalid", "A point is outside the board.")
		}
	}
	if e.Shape != pb.WbShape_WB_SHAPE_IMAGE {
		if !ValidColor(e.Color) {
			return errorf("invalid", "Colour must be #rrggbb.")
		}
		if e.Width < 1 || e.Width > lim.MaxWidth {
			return errorf("invalid", "Width must be 1 to "+strconv.Itoa(int(lim.MaxWidth))+".")
		}
	}
	if e.Shape == pb.WbShape_WB_SHAPE_TEXT {
		if !validText(e.Text, lim.MaxText) {
			return errorf("invalid", "Text must be 1 to "+strconv.Itoa(lim.MaxText)+" printable characters.")
		}
	} else if e.Text != "" {
		return errorf("invalid", "Only text elements carry text.")
	}
	if e.Shape == pb.WbShape_WB_SHAPE_IMAGE {
		if !persistence.ValidID(e.ImageId) || (imageOK != nil && !imageOK(e.ImageId)) {
			return errorf("image_not_found", "That image is not on this board's server.")
		}
	} else if e.ImageId != "" {
		return errorf("invalid", "Only image elements name an image.")
	}
	return nil
}

func (b *Board) checkMove(op *pb.WbOp, lim Limits) *pb.Error {
	if op.Dx > 2*lim.MaxCoord || op.Dx < -2*lim.MaxCoord || op.Dy > 2*lim.MaxCoord || op.Dy < -2*lim.MaxCoord {
		return errorf("invalid", "The move is too far.")
	}
	for _, id := range op.Ids {
		i, ok := b.index[id]
		if !ok || b.elems[i].Deleted {
			continue
		}
		pts := b.elems[i].Points
		for j, v := range pts {
			d := op.Dx
			if j%2 == 1 {
				d = op.Dy
			}
			if w := int64(v) + int64(d); w > int64(lim.MaxCoord) || w < -int64(lim.MaxCoord) {
				return errorf("invalid", "The move would take an element off the board.")
			}
		}
	}
	return nil
}

// ValidColor reports whether s is #rrggbb.
func ValidColor(s string) bool {
	if len(s) != 7 || s[0] != '#' {
		return false
	}
	for _, c := range s[1:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func validText(s string, max int) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if r != '\n' && !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Apply makes op (seq must be the next one) and fills in what the server
// decides: the element's id and author, the ids an erase or clear removed,
// and the op an undo or redo targets. Applying the filled op to the same
// board again gives the same result, which is how the log is replayed.
// The op must have passed Check (or come from the log).
func (b *Board) Apply(op *pb.WbOp, lim Limits) {
	b.seq = op.Seq
	switch op.Kind {
	case pb.WbOpKind_WB_OP_ADD:
		if len(b.elems) >= lim.MaxElements {
			b.dropErased()
		}
		e := proto.Clone(op.Element).(*pb.WbElement)
		e.Id, e.Author, e.Deleted = op.Seq, op.MemberId, false
		op.Element = e
		b.index[e.Id] = len(b.elems)
		b.elems = append(b.elems, e)
		b.remember(op, lim)
	case pb.WbOpKind_WB_OP_ERASE:
		op.Ids = b.live(op.Ids)
		b.setDeleted(op.Ids, true)
		b.remember(op, lim)
	case pb.WbOpKind_WB_OP_MOVE:
		op.Ids = b.live(op.Ids)
		b.shift(op.Ids, op.Dx, op.Dy)
		b.remember(op, lim)
	case pb.WbOpKind_WB_OP_CLEAR:
		var ids []uint64
		for _, e := range b.elems {
			if !e.Deleted && (op.AllPages || e.Page == op.Page) {
				ids = append(ids, e.Id)
			}
		}
		op.Ids = ids
		b.setDeleted(ids, true)
		b.remember(op, lim)
	case pb.WbOpKind_WB_OP_UNDO, pb.WbOpKind_WB_OP_REDO:
		op.Target, op.Ids, op.Restored = 0, nil, nil
		h := b.history[op.MemberId]
		if h == nil {
			return
		}
		from, to := &h.Done, &h.Undone
		if op.Kind == pb.WbOpKind_WB_OP_REDO {
			from, to = to, from
		}
		if len(*from) == 0 {
			return
		}
		t := (*from)[len(*from)-1]
		*from = (*from)[:len(*from)-1]
		*to = append(*to, t)
		op.Target = t.Seq
		op.Ids, op.Restored = b.undo(t, op.Kind == pb.WbOpKind_WB_OP_REDO)
	case pb.WbOpKind_WB_OP_PAGE_ADD:
		b.pages = append(b.pages, &pb.WbPage{})
		b.page = uint32(len(b.pages) - 1)
	case pb.WbOpKind_WB_OP_PAGE_GO:
		if int(op.Page) < len(b.pages) {
			b.page = op.Page
		}
	case pb.WbOpKind_WB_OP_PAGES_ADD:
		b.page = uint32(len(b.pages))
		b.pages = append(b.pages, op.Pages...)
	case pb.WbOpKind_WB_OP_OPEN:
		b.open = true
	case pb.WbOpKind_WB_OP_CLOSE:
		b.open = false
	case pb.WbOpKind_WB_OP_MODE:
		b.visitors, b.modeSet = op.Visitors, true
	}
}

func (b *Board) anyErased() bool {
	for _, e := range b.elems {
		if e.Deleted {
			return true
		}
	}
	return false
}

// dropErased makes room on a full board: erased elements go for good, and
// so does every undo or redo step that would need one of them. Erased
// elements otherwise stay for undo, so a board's whole life would count
// against MaxElements. It runs inside Apply, so the log replays the same.
func (b *Board) dropErased() {
	erased := map[uint64]bool{}
	kept := make([]*pb.WbElement, 0, len(b.elems))
	for _, e := range b.elems {
		if e.Deleted {
			erased[e.Id] = true
		} else {
			kept = append(kept, e)
		}
	}
	if len(erased) == 0 {
		return
	}
	needsErased := func(op *pb.WbOp) bool {
		if op.Element != nil && erased[op.Element.Id] {
			return true
		}
		for _, id := range op.Ids {
			if erased[id] {
				return true
			}
		}
		return false
	}
	for _, id := range b.order {
		h := b.history[id]
		h.Done = slices.DeleteFunc(slices.Clone(h.Done), needsErased)
		h.Undone = slices.DeleteFunc(slices.Clone(h.Undone), needsErased)
	}
	b.elems = kept
	clear(b.index)
	for i, e := range b.elems {
		b.index[e.Id] = i
	}
}

// live keeps the ids of elements that exist and are not erased, once each.
func (b *Board) live(ids []uint64) []uint64 {
	out := make([]uint64, 0, len(ids))
	seen := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		if i, ok := b.index[id]; ok && !b.elems[i].Deleted && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// setDeleted marks elements erased or brings them back, and returns those
// it changed.
func (b *Board) setDeleted(ids []uint64, deleted bool) []*pb.WbElement {
	var changed []*pb.WbElement
	for _, id := range ids {
		if i, ok := b.index[id]; ok && b.elems[i].Deleted != deleted {
			e := proto.Clone(b.elems[i]).(*pb.WbElement)
			e.Deleted = deleted
			b.elems[i] = e
			changed = append(changed, e)
		}
	}
	return changed
}

func (b *Board) shift(ids []uint64, dx, dy int32) []*pb.WbElement {
	var moved []*pb.WbElement
	for _, id := range ids {
		i, ok := b.index[id]
		if !ok {
			continue
		}
		e := proto.Clone(b.elems[i]).(*pb.WbElement)
		for j := range e.Points {
			if j%2 == 0 {
				e.Points[j] += dx
			} else {
				e.Points[j] += dy
			}
		}
		b.elems[i] = e
		moved = append(moved, e)
	}
	return moved
}

// remember puts op on its member's undo stack and forgets what was undone.
func (b *Board) remember(op *pb.WbOp, lim Limits) {
	h := b.history[op.MemberId]
	if h == nil {
		h = &pb.WbHistory{MemberId: op.MemberId}
		b.history[op.MemberId] = h
		b.order = append(b.order, op.MemberId)
	}
	h.Done = append(h.Done, op)
	if len(h.Done) > lim.HistoryDepth {
		h.Done = append([]*pb.WbOp(nil), h.Done[len(h.Done)-lim.HistoryDepth:]...)
	}
	h.Undone = nil
}

// undo reverts t (or makes it again when redo is set) and returns its
// effect for clients: the ids that go and the elements that come back or
// moved (live ones only; clients hold no erased elements).
func (b *Board) undo(t *pb.WbOp, redo bool) (gone []uint64, back []*pb.WbElement) {
	switch t.Kind {
	case pb.WbOpKind_WB_OP_ADD:
		ids := []uint64{t.Element.GetId()}
		if redo {
			return nil, b.setDeleted(ids, false)
		}
		b.setDeleted(ids, true)
		return ids, nil
	case pb.WbOpKind_WB_OP_ERASE, pb.WbOpKind_WB_OP_CLEAR:
		if redo {
			b.setDeleted(t.Ids, true)
			return t.Ids, nil
		}
		return nil, b.setDeleted(t.Ids, false)
	case pb.WbOpKind_WB_OP_MOVE:
		dx, dy := -t.Dx, -t.Dy
		if redo {
			dx, dy = t.Dx, t.Dy
		}
		for _, e := range b.shift(t.Ids, dx, dy) {
			if !e.Deleted {
				back = append(back, e)
			}
		}
		return nil, back
	}
	return nil, nil
}

// CheckLive says whether a live (unstored) stroke or laser frame is well formed.
func (b *Board) CheckLive(l *pb.WbLive, lim Limits) *pb.Error {
	if l == nil {
		return errorf("invalid", "Empty live frame.")
	}
	if int(l.Page) >= len(b.pages) {
		return errorf("invalid", "No such page.")
	}
	if len(l.Points)%2 != 0 || len(l.Points) > lim.MaxPoints {
		return errorf("invalid", "A live stroke has at most "+strconv.Itoa(lim.MaxPoints/2)+" points.")
	}
	for _, v := range l.Points {
		if v > lim.MaxCoord || v < -lim.MaxCoord {
			return errorf("invalid", "A point is outside the board.")
		}
	}
	if l.Color != "" && !ValidColor(l.Color) {
		return errorf("invalid", "Colour must be #rrggbb.")
	}
	if l.Width > lim.MaxWidth || l.Shape < 0 || l.Shape > pb.WbShape_WB_SHAPE_IMAGE {
		return errorf("invalid", "Bad live frame.")
	}
	return nil
}

// Mirror is a client's copy of a board: it applies the ops the server sends
// (filled in by the server) without any history, the way the browser does.
type Mirror struct {
	Seq   uint64
	Open  bool
	Page  uint32
	Pages int
	Elems map[uint64]*pb.WbElement
}

// NewMirror starts a mirror from a board view.
func NewMirror(v *pb.WbBoard) *Mirror {
	m := &Mirror{Seq: v.GetSeq(), Open: v.GetOpen(), Page: v.GetPage(), Pages: len(v.GetPages()), Elems: map[uint64]*pb.WbElement{}}
	if m.Pages == 0 {
		m.Pages = 1
	}
	for _, e := range v.GetElements() {
		m.Elems[e.Id] = e
	}
	return m
}

// Apply applies one server op; it reports false when the op is not the next.
func (m *Mirror) Apply(op *pb.WbOp) bool {
	if op.Seq != m.Seq+1 {
		return false
	}
	m.Seq = op.Seq
	switch op.Kind {
	case pb.WbOpKind_WB_OP_ADD:
		m.Elems[op.Element.Id] = op.Element
	case pb.WbOpKind_WB_OP_ERASE, pb.WbOpKind_WB_OP_CLEAR:
		for _, id := range op.Ids {
			delete(m.Elems, id)
		}
	case pb.WbOpKind_WB_OP_MOVE:
		for _, id := range op.Ids {
			if e, ok := m.Elems[id]; ok {
				e = proto.Clone(e).(*pb.WbElement)
				for j := range e.Points {
					if j%2 == 0 {
						e.Points[j] += op.Dx
					} else {
						e.Points[j] += op.Dy
					}
				}
				m.Elems[id] = e
			}
		}
	case pb.WbOpKind_WB_OP_UNDO, pb.WbOpKind_WB_OP_REDO:
		for _, id := range op.Ids {
			delete(m.Elems, id)
		}
		for _, e := range op.Restored {
			m.Elems[e.Id] = e
		}
	case pb.WbOpKind_WB_OP_PAGE_ADD:
		m.Pages++
		m.Page = uint32(m.Pages - 1)
	case pb.WbOpKind_WB_OP_PAGES_ADD:
		m.Page = uint32(m.Pages)
		m.Pages += len(op.Pages)
	case pb.WbOpKind_WB_OP_PAGE_GO:
		m.Page = op.Page
	case pb.WbOpKind_WB_OP_OPEN:
		m.Open = true
	case pb.WbOpKind_WB_OP_CLOSE:
		m.Open = false
	}
	return true
}
