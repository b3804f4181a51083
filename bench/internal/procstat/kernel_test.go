package procstat

import (
	"net"
	"os"
	"testing"
)

func TestKernel(t *testing.T) {
	// A listener and both ends of a connection: at least three TCP
	// sockets in use, whatever else the machine runs.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k, err := ReadKernel()
	if err != nil {
		t.Fatal(err)
	}
	if k.TCPInUse < 3 || k.TCPMem < 0 || k.SlabBytes < 1<<20 {
		t.Fatalf("ReadKernel = %+v; want >= 3 TCP sockets, TCP mem >= 0, >= 1 MiB of slab", k)
	}
}

func TestNoFileLimit(t *testing.T) {
	want, err := RaiseNoFile()
	if err != nil {
		t.Fatal(err)
	}
	got, err := NoFileLimit(os.Getpid())
	if err != nil || got != want {
		t.Fatalf("NoFileLimit(self) = %d, %v; want %d", got, err, want)
	}
	if _, err := NoFileLimit(-1); err == nil {
		t.Fatal("NoFileLimit(-1) succeeded")
	}
}

func TestRunTime(t *testing.T) {
	pid := os.Getpid()
	t0, err := RunTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for i := range 20_000_000 {
		x += i
	}
	_ = x
	t1, err := RunTime(pid)
	if err != nil || t1 <= t0 {
		t.Fatalf("RunTime after a busy loop = %v, %v; want above %v", t1, err, t0)
	}
	if _, err := RunTime(-1); err == nil {
		t.Fatal("RunTime(-1) succeeded")
	}
}

func TestSocketSlab(t *testing.T) {
	const text = `slabinfo - version: 2.1
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
TCPv6                 26     26   2496   13    8 : tunables    0    0    0 : slabdata      2      2      0
TCP                10037  10088   2368   13    8 : tunables    0    0    0 : slabdata    776    776      0
eventpoll_epi      20000  20160    128   32    1 : tunables    0    0    0 : slabdata    630    630      0
sock_inode_cache   10083  10108    832   19    4 : tunables    0    0    0 : slabdata    532    532      0
filp               11436  11550    192   21    1 : tunables    0    0    0 : slabdata    550    550      0
dentry            133777 140364    192   21    1 : tunables    0    0    0 : slabdata   6684   6684      0
`
	got, err := socketSlab([]byte(text))
	want := int64(10037*2368 + 20000*128 + 10083*832 + 11436*192)
	if err != nil || got != want {
		t.Fatalf("socketSlab = %d, %v; want %d", got, err, want)
	}
	if _, err := socketSlab([]byte("TCP 1 2 x\n")); err == nil {
		t.Fatal("socketSlab of a malformed line succeeded")
	}
}
