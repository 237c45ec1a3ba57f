package ovhtest

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/abusewatch/abusewatch/providers/internal/emulator"
)

// Ticket is a support ticket of the account, as GET /support/tickets/{id}
// shows it, with the replies posted to it.
type Ticket struct {
	ID      int64
	Number  string // what mails show as [TICKET#Number]
	Subject string
	State   string // open | closed
	Replies []string
}

// tickets is the support desk: its routes and state sit apart from the
// rest of the emulator, which holds one map of it.
type tickets map[int64]*Ticket

// ticketRoutes adds the support ticket endpoints to the core.
func (s *Server) ticketRoutes() {
	s.core.Handle("GET /1.0/support/tickets", s.listTickets)
	s.core.Handle("GET /1.0/support/tickets/{id}", s.onTicket(s.getTicket))
	s.core.Handle("POST /1.0/support/tickets/{id}/reply", s.onTicket(s.replyTicket))
}

// AddTicket opens a support ticket.
func (s *Server) AddTicket(tk Ticket) {
	s.core.Lock()
	defer s.core.Unlock()
	if s.tickets == nil {
		s.tickets = tickets{}
	}
	if tk.State == "" {
		tk.State = "open"
	}
	s.tickets[tk.ID] = &tk
}

// Ticket returns a copy of ticket id, with its replies.
func (s *Server) Ticket(id int64) (Ticket, bool) {
	s.core.Lock()
	defer s.core.Unlock()
	tk, ok := s.tickets[id]
	if !ok {
		return Ticket{}, false
	}
	out := *tk
	out.Replies = append([]string(nil), tk.Replies...)
	return out, true
}

// listTickets answers GET /support/tickets: the ids, filtered as the API
// does by ticketNumber.
func (s *Server) listTickets(w http.ResponseWriter, r *http.Request) {
	number := r.URL.Query().Get("ticketNumber")
	ids := []int64{}
	for id, tk := range s.tickets {
		if number == "" || tk.Number == number {
			ids = append(ids, id)
		}
	}
	reply(w, ids)
}

// onTicket finds the ticket of the path, 404 when it is not the account's.
func (s *Server) onTicket(h func(http.ResponseWriter, *http.Request, *Ticket)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		tk := s.tickets[id]
		if err != nil || tk == nil {
			notFound(w, "ticketId = "+r.PathValue("id"))
			return
		}
		h(w, r, tk)
	}
}

func (s *Server) getTicket(w http.ResponseWriter, _ *http.Request, tk *Ticket) {
	reply(w, map[string]any{"ticketId": tk.ID, "ticketNumber": tk.Number, "subject": tk.Subject, "state": tk.State})
}

// replyTicket answers POST /support/tickets/{id}/reply {"body": …}: a
// reply is refused without a body or on a closed ticket.
func (s *Server) replyTicket(w http.ResponseWriter, r *http.Request, tk *Ticket) {
	var in struct {
		Body string `json:"body"`
	}
	if json.Unmarshal(emulator.Body(r), &in) != nil || in.Body == "" {
		apiError(w, http.StatusBadRequest, "Client::BadRequest", "", "Missing parameter: body")
		return
	}
	if tk.State == "closed" {
		apiError(w, http.StatusBadRequest, "Client::BadRequest", "", "This ticket is closed")
		return
	}
	tk.Replies = append(tk.Replies, in.Body)
	reply(w, nil)
}
