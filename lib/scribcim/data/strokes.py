"""Pixel geometry for simulated scribbles: thinning, pruning, geodesic shortening, random curves.

Everything works on 2D boolean masks (one slice) with numpy and scipy.ndimage only.
"""
from __future__ import annotations

from collections import deque

import numpy as np
from scipy import ndimage

EIGHT = np.ones((3, 3), bool)


def _neighbours(img: np.ndarray) -> list[np.ndarray]:
    """P2..P9 of Zhang-Suen (N, NE, E, SE, S, SW, W, NW) for the interior of a padded image."""
    return [img[:-2, 1:-1], img[:-2, 2:], img[1:-1, 2:], img[2:, 2:],
            img[2:, 1:-1], img[2:, :-2], img[1:-1, :-2], img[:-2, :-2]]


def thin(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide skeleton of ``mask`` (Zhang-Suen thinning; keeps 8-connectivity).

    Args:
        mask: 2D boolean mask.

    Returns:
        Boolean skeleton with the shape of ``mask``.
    """
    img = np.pad(np.asarray(mask, bool), 1)
    while True:
        changed = False
        for step in (0, 1):
            p = _neighbours(img)
            b = sum(q.astype(np.int8) for q in p)
            a = sum((~p[k] & p[(k + 1) % 8]).astype(np.int8) for k in range(8))
            if step == 0:
                cond = ~(p[0] & p[2] & p[4]) & ~(p[2] & p[4] & p[6])
            else:
                cond = ~(p[0] & p[2] & p[6]) & ~(p[0] & p[4] & p[6])
            remove = img[1:-1, 1:-1] & (b >= 2) & (b <= 6) & (a == 1) & cond
            if remove.any():
                img[1:-1, 1:-1] &= ~remove
                changed = True
        if not changed:
            return img[1:-1, 1:-1].copy()


def endpoints(skel: np.ndarray) -> np.ndarray:
    """Pixels of ``skel`` with at most one 8-neighbour in ``skel``."""
    n = ndimage.convolve(skel.astype(np.int16), EIGHT.astype(np.int16), mode="constant") - skel
    return skel & (n <= 1)


def prune(skel: np.ndarray, length: int) -> np.ndarray:
    """Remove spurs by deleting end points ``length`` times (falls back to ``skel`` if all would go)."""
    out = skel.copy()
    for _ in range(length):
        ends = endpoints(out)
        if not ends.any() or ends.sum() == out.sum():
            break
        out &= ~ends
    return out if out.any() else skel


def geodesic(mask: np.ndarray, seed: tuple[int, int]) -> np.ndarray:
    """8-connected path length (pixels) from ``seed`` inside ``mask``; -1 where unreachable."""
    dist = np.full(mask.shape, -1, np.int32)
    dist[seed] = 0
    queue = deque([seed])
    h, w = mask.shape
    while queue:
        y, x = queue.popleft()
        d = dist[y, x] + 1
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                yy, xx = y + dy, x + dx
                if 0 <= yy < h and 0 <= xx < w and mask[yy, xx] and dist[yy, xx] < 0:
                    dist[yy, xx] = d
                    queue.append((yy, xx))
    return dist


def shorten(line: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Keep ``fraction`` of a thin stroke's length, measured along the stroke.

    The stroke is grown geodesically from a random end point (a random pixel for a closed
    loop) and cut where the path length reaches ``fraction`` of the farthest pixel, so a
    line keeps a prefix and a loop keeps an arc. Only the seed's connected part is kept.

    Args:
        line: thin boolean stroke.
        fraction: in (0, 1].
        rng: random generator (picks the seed).

    Returns:
        Boolean mask, a subset of ``line``.
    """
    ends = np.argwhere(endpoints(line))
    pts = ends if len(ends) else np.argwhere(line)
    if not len(pts):
        return line.copy()
    seed = tuple(int(v) for v in pts[rng.integers(len(pts))])
    dist = geodesic(line, seed)
    limit = fraction * dist.max()
    return (dist >= 0) & (dist <= max(limit, 0))


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of ``mask`` (empty stays empty)."""
    lab, n = ndimage.label(mask, EIGHT)
    if n <= 1:
        return mask.copy()
    sizes = ndimage.sum_labels(mask, lab, index=np.arange(1, n + 1))
    return lab == (int(np.argmax(sizes)) + 1)


def axis_line(part: np.ndarray, margin: float = 1.0) -> np.ndarray:
    """The principal-axis chord through the centroid of ``part``, kept ``margin`` pixels inside it.

    Used as the centre line of compact parts whose skeleton is little more than a point.
    """
    pts = np.argwhere(part).astype(float)
    centre = pts.mean(axis=0)
    vec = np.linalg.eigh(np.cov(pts.T) + 1e-9 * np.eye(2))[1][:, -1]
    t = np.arange(-part.shape[0] - part.shape[1], part.shape[0] + part.shape[1], 0.5)
    yx = np.rint(centre + t[:, None] * vec).astype(int)
    ok = (yx >= 0).all(1) & (yx[:, 0] < part.shape[0]) & (yx[:, 1] < part.shape[1])
    line = np.zeros_like(part, bool)
    line[yx[ok, 0], yx[ok, 1]] = True
    inside = ndimage.distance_transform_edt(part) > margin
    return largest_component(line & (inside if (line & inside).any() else part))


def disk(width: int) -> np.ndarray:
    """Footprint of a pen ``width`` pixels wide (1 = a single pixel)."""
    r = int(np.floor(width / 2))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return np.hypot(yy, xx) <= width / 2


def random_curve(allowed: np.ndarray, length: float, rng: np.random.Generator, *,
                 turn_sigma: float = 0.08, momentum: float = 0.85) -> np.ndarray:
    """A smooth random pen stroke of about ``length`` pixels that stays inside ``allowed``.

    The pen starts at a random pixel (deep pixels more likely), moves one pixel per step and
    turns by a smoothly varying angular velocity; where the next step would leave ``allowed``
    it turns to the nearest free heading, and it stops when boxed in.

    Args:
        allowed: boolean mask the curve must stay in.
        length: target number of steps.
        rng: random generator.
        turn_sigma: standard deviation (rad) of the angular acceleration per step.
        momentum: persistence of the angular velocity per step.

    Returns:
        Boolean mask of the visited pixels (8-connected).
    """
    out = np.zeros_like(allowed, bool)
    pts = np.argwhere(allowed)
    if not len(pts):
        return out
    depth = ndimage.distance_transform_edt(allowed)[allowed] ** 2
    y, x = (float(v) for v in pts[rng.choice(len(pts), p=depth / depth.sum())])
    theta, omega = rng.uniform(0, 2 * np.pi), 0.0
    h, w = allowed.shape
    out[int(round(y)), int(round(x))] = True

    def free(t: float) -> bool:
        yy, xx = int(round(y + np.sin(t))), int(round(x + np.cos(t)))
        return 0 <= yy < h and 0 <= xx < w and bool(allowed[yy, xx])

    for _ in range(int(round(length))):
        omega = momentum * omega + rng.normal(0, turn_sigma)
        theta += omega
        if not free(theta):
            turns = [s * k * np.pi / 8 for k in range(1, 9) for s in (1, -1)]
            ok = [t for t in turns if free(theta + t)]
            if not ok:
                break
            theta, omega = theta + ok[0], 0.0
        y, x = y + np.sin(theta), x + np.cos(theta)
        out[int(round(y)), int(round(x))] = True
    return out
