package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// jobProxy stands between vadvisor and libvirtd's socket for the job part.
// libvirt's test driver does not implement virDomainGetJobStats (libvirt
// 9.0 answers VIR_ERR_NO_SUPPORT), so a job collector on a test-driver node
// gets no job figures at all. The proxy passes every message through as it
// is, except that it turns each DomainGetJobStats call into a
// DomainGetState call of the same domain (both take a domain and flags, so
// only the procedure number changes), and that call's answer into the
// answer of a domain with no job (type 0, no parameters): every job call
// is still a real round trip through libvirtd, answered from its memory as
// QEMU's driver answers a domain with no job.
//
// With a delay set, the proxy holds each rewritten answer back that long (other
// messages pass meanwhile), as a busy libvirtd answers late.
type jobProxy struct {
	path      string
	upstream  string
	ln        net.Listener
	rewritten atomic.Int64
	delay     atomic.Int64 // time.Duration
}

// libvirt RPC (src/rpc/virnetprotocol.x, src/remote/remote_protocol.x).
const (
	rpcHeaderEnd          = 28 // 4 length, then program, version, procedure, type, serial, status
	rpcRemoteProgram      = 0x20008086
	rpcProcGetState       = 212
	rpcProcGetJobStats    = 298
	rpcCall               = 0
	rpcReply              = 1
	rpcStatusOK           = 0
	rpcMaxMessage         = 32 << 20
	rpcNoJobPayloadLength = 8 // int type, then a zero-length params array
)

func startJobProxy(path, upstream string) (*jobProxy, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	p := &jobProxy{path: path, upstream: upstream, ln: ln}
	go p.serve()
	return p, nil
}

func (p *jobProxy) Close() error { return p.ln.Close() }

func (p *jobProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *jobProxy) handle(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("unix", p.upstream)
	if err != nil {
		return
	}
	defer server.Close()
	var mu, writing sync.Mutex
	pending := map[uint32]bool{} // serials of the rewritten calls
	write := func(msg []byte) error {
		writing.Lock()
		defer writing.Unlock()
		_, err := client.Write(msg)
		return err
	}
	go func() {
		defer server.Close()
		defer client.Close()
		for {
			msg, err := readRPC(client)
			if err != nil {
				return
			}
			prog, proc, typ, serial, _ := rpcHeader(msg)
			if prog == rpcRemoteProgram && proc == rpcProcGetJobStats && typ == rpcCall {
				binary.BigEndian.PutUint32(msg[12:], rpcProcGetState)
				mu.Lock()
				pending[serial] = true
				mu.Unlock()
				p.rewritten.Add(1)
			}
			if _, err := server.Write(msg); err != nil {
				return
			}
		}
	}()
	for {
		msg, err := readRPC(server)
		if err != nil {
			return
		}
		prog, proc, typ, serial, status := rpcHeader(msg)
		if prog == rpcRemoteProgram && proc == rpcProcGetState && typ == rpcReply {
			mu.Lock()
			ours := pending[serial]
			delete(pending, serial)
			mu.Unlock()
			if ours {
				binary.BigEndian.PutUint32(msg[12:], rpcProcGetJobStats)
				if status == rpcStatusOK {
					msg = append(msg[:rpcHeaderEnd], make([]byte, rpcNoJobPayloadLength)...)
					binary.BigEndian.PutUint32(msg, uint32(len(msg)))
				}
				if d := time.Duration(p.delay.Load()); d > 0 {
					time.AfterFunc(d, func() { _ = write(msg) })
					continue
				}
			}
		}
		if err := write(msg); err != nil {
			return
		}
	}
}

// readRPC reads one whole message, its length word included.
func readRPC(r io.Reader) ([]byte, error) {
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(l[:])
	if n < rpcHeaderEnd || n > rpcMaxMessage {
		return nil, fmt.Errorf("libvirt RPC message of %d bytes", n)
	}
	msg := make([]byte, n)
	copy(msg, l[:])
	if _, err := io.ReadFull(r, msg[4:]); err != nil {
		return nil, err
	}
	return msg, nil
}

func rpcHeader(msg []byte) (prog, proc, typ, serial, status uint32) {
	be := binary.BigEndian
	return be.Uint32(msg[4:]), be.Uint32(msg[12:]), be.Uint32(msg[16:]), be.Uint32(msg[20:]), be.Uint32(msg[24:])
}
