package placement

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCovers(t *testing.T) {
	munich := Point{Lat: 48.137, Lon: 11.575}
	berlin := Point{Lat: 52.52, Lon: 13.405}
	// An L-shaped (concave) polygon: the notch at its top right is outside.
	ell := []Point{{0, 0}, {0, 2}, {1, 2}, {1, 1}, {2, 1}, {2, 0}}
	closed := append(append([]Point(nil), ell...), ell[0])
	circle := func(c Point, r float64) Area { return Area{Circle: &Circle{Center: c, RadiusM: r}} }
	point := func(lat, lon float64) Area { return Area{Point: &Point{Lat: lat, Lon: lon}} }
	tests := []struct {
		name   string
		served Area
		want   Area
		covers bool
	}{
		{"same TAC", Area{TAC: "12345"}, Area{TAC: "12345"}, true},
		{"TAC ignores case and space", Area{TAC: "00a1f"}, Area{TAC: " 00A1F"}, true},
		{"other TAC", Area{TAC: "12345"}, Area{TAC: "12346"}, false},
		{"TAC against a polygon", Area{Polygon: ell}, Area{TAC: "1"}, false},
		{"polygon against a TAC", Area{TAC: "1"}, Area{Polygon: ell}, false},
		{"point against a TAC", Area{TAC: "1"}, point(0.5, 0.5), false},
		{"point inside a concave polygon", Area{Polygon: ell}, point(0.5, 1.5), true},
		{"point in the notch of a concave polygon", Area{Polygon: ell}, point(1.5, 1.5), false},
		{"point on an edge", Area{Polygon: ell}, point(0, 1), true},
		{"point on a vertex", Area{Polygon: ell}, point(1, 1), true},
		{"point inside a closed GeoJSON ring", Area{Polygon: closed}, point(1.5, 0.5), true},
		{"point outside the polygon", Area{Polygon: ell}, point(3, 3), false},
		{"point inside a circle", circle(munich, 10_000), point(48.2, 11.6), true},
		{"point outside a circle", circle(munich, 10_000), Area{Point: &berlin}, false},
		{"polygon inside a polygon", Area{Polygon: ell}, Area{Polygon: square(0.5, 0.5, 0.1)}, true},
		{"polygon around a polygon", Area{Polygon: square(0.5, 0.5, 0.1)}, Area{Polygon: ell}, true},
		{"polygons crossing", Area{Polygon: square(0, 0, 1)}, Area{Polygon: square(1, 1, 1)}, true},
		{"polygons touching at a corner", Area{Polygon: square(0, 0, 1)}, Area{Polygon: square(2, 2, 1)}, true},
		{"polygon in the notch", Area{Polygon: ell}, Area{Polygon: square(1.6, 1.6, 0.2)}, false},
		{"polygons apart", Area{Polygon: square(0, 0, 1)}, Area{Polygon: square(5, 5, 1)}, false},
		{"polygon inside a circle", circle(munich, 50_000), Area{Polygon: square(munich.Lat, munich.Lon, 0.01)}, true},
		{"circle inside a polygon", Area{Polygon: square(munich.Lat, munich.Lon, 1)}, circle(munich, 1000), true},
		{"circle reaching a polygon's edge", Area{Polygon: square(munich.Lat, munich.Lon+0.3, 0.1)}, circle(munich, 16_000), true},
		{"circle short of a polygon's edge", Area{Polygon: square(munich.Lat, munich.Lon+0.3, 0.1)}, circle(munich, 14_000), false},
		{"circles overlapping", circle(munich, 300_000), circle(berlin, 300_000), true},
		{"circles apart", circle(munich, 200_000), circle(berlin, 200_000), false},
		{"degenerate polygon", Area{Polygon: []Point{{0, 0}, {1, 1}}}, point(0.5, 0.5), false},
		{"empty want", Area{TAC: "1"}, Area{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.covers, covers(tt.served, tt.want), "covers(%v, %v)", tt.served, tt.want)
		})
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		name   string
		a, b   Point
		wantKm float64
	}{
		{"Munich to Berlin", Point{48.137, 11.575}, Point{52.52, 13.405}, 504},
		{"one degree of latitude", Point{0, 0}, Point{1, 0}, 111.2},
		{"across the antimeridian", Point{0, 179.5}, Point{0, -179.5}, 111.2},
		{"same point", Point{10, 10}, Point{10, 10}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.InDelta(t, tt.wantKm, distanceM(tt.a, tt.b)/1000, 1)
		})
	}
}

func TestAreaString(t *testing.T) {
	tests := []struct {
		area Area
		want string
	}{
		{Area{TAC: "12345"}, "TAC 12345"},
		{Area{Point: &Point{48.137, 11.575}}, "point 48.137,11.575"},
		{Area{Polygon: append(square(0, 0, 1), Point{-1, -1})}, "polygon of 4 vertices"},
		{Area{Circle: &Circle{Center: Point{1, 2}, RadiusM: 1500}}, "circle of 1500 m around 1,2"},
		{Area{}, "empty area"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.area.String())
		})
	}
}
