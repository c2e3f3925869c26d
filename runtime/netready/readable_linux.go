package netready

import "syscall"

// readable reports whether a read on fd would not block: data is queued,
// the peer closed, or the socket has an error. It peeks, so nothing is
// consumed.
func readable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EINTR
}
