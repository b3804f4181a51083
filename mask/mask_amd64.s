//go:build amd64 && !purego

#include "textflag.h"

// maskSSE2 needs no scalar head or tail loop, and its main loop touches
// only aligned vectors:
//
//  1. Load and mask the first and the last vector of b from the original
//     bytes, each with the key rotated to its own phase.
//  2. Mask the aligned vectors in between, with the key rotated to the
//     phase of the first aligned byte.
//  3. Store the first and last vectors. Where they overlap each other or
//     the aligned run they write the same masked bytes again, which is
//     harmless because they were computed from the unmasked input.
//
// A rotation by 8*(i&3) bits of the little-endian key word k gives the key
// for byte offset i.

// func maskSSE2(b []byte, k uint32)
// Requires len(b) >= 16.
TEXT ·maskSSE2(SB), NOSPLIT, $0-28
	MOVQ b_base+0(FP), DI
	MOVQ b_len+8(FP), BX
	MOVL k+24(FP), AX

	// X0: key for the head; X1: key for the tail at offset len-16.
	MOVL   AX, X0
	PSHUFD $0, X0, X0
	MOVL   AX, DX
	MOVQ   BX, CX
	ANDQ   $3, CX
	SHLQ   $3, CX
	RORL   CX, DX
	MOVL   DX, X1
	PSHUFD $0, X1, X1

	LEAQ  -16(DI)(BX*1), SI // tail address
	MOVOU (DI), X2
	PXOR  X0, X2
	MOVOU (SI), X3
	PXOR  X1, X3
	CMPQ  BX, $32
	JBE   sseStore          // head and tail cover b

	// R8 = first 16-byte boundary after DI, R9 = last one at or before
	// the end; R9-R8 is a non-zero multiple of 16 because len(b) > 32.
	LEAQ 15(DI), R8
	ANDQ $-16, R8
	LEAQ (DI)(BX*1), R9
	ANDQ $-16, R9

	// X4: key for the aligned run, whose phase is (R8-DI)&3.
	MOVQ   R8, CX
	SUBQ   DI, CX
	ANDQ   $3, CX
	SHLQ   $3, CX
	MOVL   AX, DX
	RORL   CX, DX
	MOVL   DX, X4
	PSHUFD $0, X4, X4

	MOVQ R9, CX
	SUBQ R8, CX
	CMPQ CX, $64
	JB   sse16

sse64:
	MOVO X4, X5
	MOVO X4, X6
	MOVO X4, X7
	MOVO X4, X8
	PXOR (R8), X5
	PXOR 16(R8), X6
	PXOR 32(R8), X7
	PXOR 48(R8), X8
	MOVO X5, (R8)
	MOVO X6, 16(R8)
	MOVO X7, 32(R8)
	MOVO X8, 48(R8)
	ADDQ $64, R8
	SUBQ $64, CX
	CMPQ CX, $64
	JAE  sse64
	TESTQ CX, CX
	JZ    sseStore

sse16:
	MOVO X4, X5
	PXOR (R8), X5
	MOVO X5, (R8)
	ADDQ $16, R8
	SUBQ $16, CX
	JNZ  sse16

sseStore:
	MOVOU X2, (DI)
	MOVOU X3, (SI)
	RET
