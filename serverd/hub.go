package serverd

import "sync"

// hub wakes a user's watchers after a commit: each user has a channel that
// is closed (and replaced) on every change.
type hub struct {
	mu    sync.Mutex               // guards users
	users map[string]chan struct{} // user -> channel closed at its next change
}

func newHub() *hub { return &hub{users: map[string]chan struct{}{}} }

// wait returns a channel closed at the user's next change. Callers take it
// before reading the state they compare against, so no change is missed.
func (h *hub) wait(user string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch, ok := h.users[user]
	if !ok {
		ch = make(chan struct{})
		h.users[user] = ch
	}
	return ch
}

// notify wakes every watcher of the user.
func (h *hub) notify(user string) {
	if faultsEnabled && fault("deaf-watch") {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if ch, ok := h.users[user]; ok {
		close(ch)
		delete(h.users, user)
	}
}
