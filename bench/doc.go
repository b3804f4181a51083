// Package bench holds the side-by-side benchmark of twoway's conn package
// against other Go WebSocket libraries and raw TCP; see README.md. The
// programs are in cmd: benchserver (one echo or broadcast server per library),
// benchload (the load generator) and benchrun (the driver).
package bench
