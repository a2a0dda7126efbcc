package placement

import (
	"fmt"
	"math"
	"strings"
)

// earthRadiusM is the mean Earth radius (IUGG) in metres.
const earthRadiusM = 6371008.8

// String describes the area for rejection reasons: "TAC 12345", "point 48.137,11.575",
// "polygon of 4 vertices", "circle of 500 m around 48.137,11.575".
func (a Area) String() string {
	switch {
	case a.TAC != "":
		return "TAC " + a.TAC
	case a.Point != nil:
		return "point " + a.Point.String()
	case len(a.Polygon) > 0:
		return fmt.Sprintf("polygon of %d vertices", len(ring(a.Polygon)))
	case a.Circle != nil:
		return fmt.Sprintf("circle of %s m around %s", formatNum(a.Circle.RadiusM), a.Circle.Center)
	}
	return "empty area"
}

// String prints the point as "lat,lon".
func (p Point) String() string {
	return formatNum(p.Lat) + "," + formatNum(p.Lon)
}

// covers reports whether a site serving the area served serves (part of) want:
//   - a TAC serves the same TAC;
//   - a polygon or circle serves a point inside it (boundary included);
//   - a polygon or circle serves a polygon or circle it overlaps.
//
// TACs and shapes never match each other: placement has no map of tracking areas.
func covers(served, want Area) bool {
	switch {
	case want.TAC != "":
		return served.TAC != "" && strings.EqualFold(strings.TrimSpace(served.TAC), strings.TrimSpace(want.TAC))
	case want.Point != nil:
		switch {
		case len(served.Polygon) > 0:
			return inPolygon(*want.Point, ring(served.Polygon))
		case served.Circle != nil:
			return distanceM(*want.Point, served.Circle.Center) <= served.Circle.RadiusM
		}
	case len(want.Polygon) > 0:
		switch {
		case len(served.Polygon) > 0:
			return polygonsOverlap(ring(served.Polygon), ring(want.Polygon))
		case served.Circle != nil:
			return circleOverlapsPolygon(*served.Circle, ring(want.Polygon))
		}
	case want.Circle != nil:
		switch {
		case len(served.Polygon) > 0:
			return circleOverlapsPolygon(*want.Circle, ring(served.Polygon))
		case served.Circle != nil:
			return distanceM(want.Circle.Center, served.Circle.Center) <= want.Circle.RadiusM+served.Circle.RadiusM
		}
	}
	return false
}

// ring drops a closing vertex equal to the first, as GeoJSON rings carry.
func ring(p []Point) []Point {
	if len(p) > 1 && p[0] == p[len(p)-1] {
		return p[:len(p)-1]
	}
	return p
}

// distanceM is the great-circle (haversine) distance between a and b in metres.
func distanceM(a, b Point) float64 {
	const rad = math.Pi / 180
	dLat := (b.Lat - a.Lat) * rad
	dLon := (b.Lon - a.Lon) * rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) +
		math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusM * math.Asin(math.Sqrt(min(h, 1)))
}

// Polygons are handled in the plane of (lon, lat) degrees: edges are straight in that plane,
// which is close enough for the size of served areas (cells, districts, cities). Rings that
// cross the antimeridian are not supported.

// inPolygon reports whether p is inside poly or on its boundary (even-odd rule).
func inPolygon(p Point, poly []Point) bool {
	if len(poly) < 3 {
		return false
	}
	in := false
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		a, b := poly[j], poly[i]
		if onSegment(p, a, b) {
			return true
		}
		if (a.Lat > p.Lat) != (b.Lat > p.Lat) {
			x := a.Lon + (p.Lat-a.Lat)*(b.Lon-a.Lon)/(b.Lat-a.Lat)
			if p.Lon < x {
				in = !in
			}
		}
	}
	return in
}

// cross is the z component of (b-a)×(c-a) in the (lon, lat) plane.
func cross(a, b, c Point) float64 {
	return (b.Lon-a.Lon)*(c.Lat-a.Lat) - (b.Lat-a.Lat)*(c.Lon-a.Lon)
}

// onSegment reports whether p lies on the segment ab.
func onSegment(p, a, b Point) bool {
	return cross(a, b, p) == 0 &&
		min(a.Lon, b.Lon) <= p.Lon && p.Lon <= max(a.Lon, b.Lon) &&
		min(a.Lat, b.Lat) <= p.Lat && p.Lat <= max(a.Lat, b.Lat)
}

// segmentsIntersect reports whether the segments ab and cd share a point.
func segmentsIntersect(a, b, c, d Point) bool {
	d1, d2 := cross(c, d, a), cross(c, d, b)
	d3, d4 := cross(a, b, c), cross(a, b, d)
	if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) {
		return true
	}
	return onSegment(a, c, d) || onSegment(b, c, d) || onSegment(c, a, b) || onSegment(d, a, b)
}

// polygonsOverlap reports whether two polygons share a point: an edge of one crosses an edge
// of the other, or one lies inside the other.
func polygonsOverlap(p, q []Point) bool {
	if len(p) < 3 || len(q) < 3 {
		return false
	}
	if !boxesOverlap(p, q) {
		return false
	}
	for i, j := 0, len(p)-1; i < len(p); j, i = i, i+1 {
		for k, l := 0, len(q)-1; k < len(q); l, k = k, k+1 {
			if segmentsIntersect(p[j], p[i], q[l], q[k]) {
				return true
			}
		}
	}
	return inPolygon(p[0], q) || inPolygon(q[0], p)
}

// boxesOverlap is the cheap bounding-box test before the edge-by-edge one.
func boxesOverlap(p, q []Point) bool {
	pmin, pmax := bbox(p)
	qmin, qmax := bbox(q)
	return pmin.Lat <= qmax.Lat && qmin.Lat <= pmax.Lat && pmin.Lon <= qmax.Lon && qmin.Lon <= pmax.Lon
}

func bbox(p []Point) (lo, hi Point) {
	lo, hi = p[0], p[0]
	for _, v := range p[1:] {
		lo.Lat, lo.Lon = min(lo.Lat, v.Lat), min(lo.Lon, v.Lon)
		hi.Lat, hi.Lon = max(hi.Lat, v.Lat), max(hi.Lon, v.Lon)
	}
	return lo, hi
}

// circleOverlapsPolygon reports whether a circle and a polygon share a point. The polygon is
// projected onto a plane tangent at the circle's centre (equirectangular, in metres), where
// the circle is a circle: they overlap when the centre is inside the polygon or an edge comes
// within the radius of it.
func circleOverlapsPolygon(c Circle, poly []Point) bool {
	if len(poly) < 3 {
		return false
	}
	const rad = math.Pi / 180
	kx := math.Cos(c.Center.Lat*rad) * earthRadiusM * rad
	ky := earthRadiusM * rad
	xy := make([][2]float64, len(poly))
	for i, v := range poly {
		dLon := math.Remainder(v.Lon-c.Center.Lon, 360)
		xy[i] = [2]float64{dLon * kx, (v.Lat - c.Center.Lat) * ky}
	}
	for i, j := 0, len(xy)-1; i < len(xy); j, i = i, i+1 {
		if distToSegment(xy[j], xy[i]) <= c.RadiusM {
			return true
		}
	}
	return inPolygon(c.Center, poly)
}

// distToSegment is the distance from the origin to the segment ab in the plane.
func distToSegment(a, b [2]float64) float64 {
	dx, dy := b[0]-a[0], b[1]-a[1]
	t := 0.0
	if l := dx*dx + dy*dy; l > 0 {
		t = max(0, min(1, -(a[0]*dx+a[1]*dy)/l))
	}
	return math.Hypot(a[0]+t*dx, a[1]+t*dy)
}
