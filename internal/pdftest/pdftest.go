// Package pdftest writes small PDFs for tests: each page is one filled
// rectangle, so a rendering can be checked by the colour of a pixel.
package pdftest

import (
	"bytes"
	"fmt"
)

// Colours of the rectangle on page i (0-based), cycling.
var Colours = [][3]float64{{1, 0, 0}, {0, 0.6, 0}, {0, 0, 1}}

// Pages returns a PDF of n pages, 300x200 points each, with a rectangle
// covering the middle (from 50,50 to 250,150) in Colours[i%3].
func Pages(n int) []byte {
	var b bytes.Buffer
	var offs []int
	obj := func(s string) { offs = append(offs, b.Len()); b.WriteString(s) }
	b.WriteString("%PDF-1.4\n")
	kids := ""
	for i := 0; i < n; i++ {
		kids += fmt.Sprintf("%d 0 R ", 3+2*i)
	}
	obj("1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n")
	obj(fmt.Sprintf("2 0 obj << /Type /Pages /Kids [%s] /Count %d >> endobj\n", kids, n))
	for i := 0; i < n; i++ {
		c := Colours[i%len(Colours)]
		content := fmt.Sprintf("%g %g %g rg 50 50 200 100 re f", c[0], c[1], c[2])
		obj(fmt.Sprintf("%d 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents %d 0 R >> endobj\n", 3+2*i, 4+2*i))
		obj(fmt.Sprintf("%d 0 obj << /Length %d >> stream\n%s\nendstream endobj\n", 4+2*i, len(content), content))
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer << /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offs)+1, xref)
	return b.Bytes()
}
