package embedded

import "strings"

// fontHeight is the number of rows of a glyph of the banner font.
const fontHeight = 5

// fontData is a small block font: a line with the character, then
// fontHeight rows of its glyph ('#' ink, '.' blank).
const fontData = ` 
...
...
...
...
...
!
#
#
#
.
#
'
#
#
.
.
.
,
..
..
..
.#
#.
-
....
....
####
....
....
.
.
.
.
.
#
/
....#
...#.
..#..
.#...
#....
0
.###.
#..##
#.#.#
##..#
.###.
1
.#.
##.
.#.
.#.
###
2
.###.
#...#
..##.
.#...
#####
3
####.
....#
.###.
....#
####.
4
#...#
#...#
#####
....#
....#
5
#####
#....
####.
....#
####.
6
.###.
#....
####.
#...#
.###.
7
#####
....#
...#.
..#..
..#..
8
.###.
#...#
.###.
#...#
.###.
9
.###.
#...#
.####
....#
.###.
:
.
#
.
#
.
?
.###.
#...#
..##.
.....
..#..
A
.###.
#...#
#####
#...#
#...#
B
####.
#...#
####.
#...#
####.
C
.####
#....
#....
#....
.####
D
####.
#...#
#...#
#...#
####.
E
#####
#....
####.
#....
#####
F
#####
#....
####.
#....
#....
G
.####
#....
#..##
#...#
.####
H
#...#
#...#
#####
#...#
#...#
I
###
.#.
.#.
.#.
###
J
..###
...#.
...#.
#..#.
.##..
K
#...#
#..#.
###..
#..#.
#...#
L
#....
#....
#....
#....
#####
M
#...#
##.##
#.#.#
#...#
#...#
N
#...#
##..#
#.#.#
#..##
#...#
O
.###.
#...#
#...#
#...#
.###.
P
####.
#...#
####.
#....
#....
Q
.###.
#...#
#.#.#
#..#.
.##.#
R
####.
#...#
####.
#..#.
#...#
S
.####
#....
.###.
....#
####.
T
#####
..#..
..#..
..#..
..#..
U
#...#
#...#
#...#
#...#
.###.
V
#...#
#...#
#...#
.#.#.
..#..
W
#...#
#...#
#.#.#
##.##
#...#
X
#...#
.#.#.
..#..
.#.#.
#...#
Y
#...#
.#.#.
..#..
..#..
..#..
Z
#####
...#.
..#..
.#...
#####
_
....
....
....
....
####`

// font maps characters to glyph rows.
type font map[byte][fontHeight]string

func parseFont() font {
	f := font{}
	lines := strings.Split(fontData, "\n")
	for i := 0; i+fontHeight < len(lines); i += fontHeight + 1 {
		var g [fontHeight]string
		for r := range fontHeight {
			g[r] = strings.ReplaceAll(lines[i+1+r], ".", " ")
		}
		f[lines[i][0]] = g
	}
	return f
}

// render draws text as a banner, one glyph row per line. Lower-case letters
// are drawn as capitals; characters without a glyph as '?'. Lines of text
// become separate banners.
func (f font) render(text string) string {
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		line = strings.ToUpper(line)
		for r := range fontHeight {
			var row strings.Builder
			for i := 0; i < len(line); i++ {
				g, ok := f[line[i]]
				if !ok {
					g = f['?']
				}
				row.WriteString(g[r])
				row.WriteByte(' ')
			}
			b.WriteString(strings.TrimRight(row.String(), " "))
			b.WriteByte('\n')
		}
	}
	return b.String()
}
