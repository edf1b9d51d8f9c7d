// Leaflet maps. Markers are vector circles (no marker images), so they show
// on a blank background when no tile server is reachable.
import L from 'leaflet';
import { api } from './api.js';

const DEFAULT_TILES = 'https://tile.openstreetmap.org/{z}/{x}/{y}.png';
const DEFAULT_ATTR = '&copy; OpenStreetMap contributors';
let configPromise = null;

export function uiConfig() {
  if (!configPromise) {
    configPromise = api('/api/v1/ui-config', { quiet401: true }).catch(() => ({}));
  }
  return configPromise;
}

export async function makeMap(el) {
  const map = L.map(el, { zoomControl: true, keyboard: true, attributionControl: true, preferCanvas: false });
  map.setView([37.54, -77.44], 11);
  const cfg = (await uiConfig()) || {};
  const url = (typeof cfg === 'object' && (cfg.tile_url || cfg.tileUrl)) || DEFAULT_TILES;
  if (url && url !== 'none') {
    L.tileLayer(url, { maxZoom: 19, attribution: cfg.tile_attribution || DEFAULT_ATTR, crossOrigin: false }).addTo(map);
  }
  return map;
}

export function circle(latlng, opts, tooltip) {
  const m = L.circleMarker(latlng, { radius: 8, weight: 2, color: '#13294b', fillColor: '#e8590c', fillOpacity: 0.9, ...opts });
  if (tooltip) m.bindTooltip(tooltip);
  return m;
}

export function fit(map, latlngs) {
  if (!latlngs.length) return;
  if (latlngs.length === 1) map.setView(latlngs[0], 15);
  else map.fitBounds(L.latLngBounds(latlngs).pad(0.15), { maxZoom: 16 });
}

export { L };
