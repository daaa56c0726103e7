//go:build !linux

package transport

// parking is Linux-only (epoll); elsewhere an idle socket's reader waits
// on its goroutine (see idleWait.waitReadable).
type parking struct{}

var idleParking parking

func (p *parking) enter(*idleWait) bool { return false }
func (p *parking) leave(*idleWait)      {}
func (p *parking) count() int           { return 0 }
