// Images, audio and documents travel as URLs in OpenAI's API (a `data:` URL when inline), as `source` objects in
// Anthropic's and as inlineData / fileData parts in Gemini's. These helpers convert between the two spellings of
// inline data without copying the payload more than slicing a string does.

export interface InlineData {
  /** IANA media type, e.g. `image/png`. */
  mediaType: string;
  /** Base64 payload, as the caller sent it. */
  data: string;
}

const DATA_PREFIX = 'data:';
const BASE64_MARK = ';base64,';

/** `data:image/png;base64,iVBOR…` → { mediaType, data }; undefined for any other URL or a non-base64 data URL. */
export function parseDataUrl(url: string): InlineData | undefined {
  if (!url.startsWith(DATA_PREFIX)) return undefined;
  const mark = url.indexOf(BASE64_MARK);
  if (mark < 0) return undefined;
  // Parameters other than base64 (`;charset=…`) sit before the mark and are not part of the media type.
  const header = url.slice(DATA_PREFIX.length, mark);
  const semicolon = header.indexOf(';');
  const mediaType = (semicolon < 0 ? header : header.slice(0, semicolon)).toLowerCase();
  return { mediaType: mediaType === '' ? 'application/octet-stream' : mediaType, data: url.slice(mark + BASE64_MARK.length) };
}

export function toDataUrl(inline: InlineData): string {
  return `${DATA_PREFIX}${inline.mediaType}${BASE64_MARK}${inline.data}`;
}

export function isHttpUrl(url: string): boolean {
  return url.startsWith('https://') || url.startsWith('http://');
}

const BY_EXTENSION: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
  pdf: 'application/pdf',
};

/** Media type of a remote file from its path's extension (Gemini's fileData wants one; nothing is fetched). */
export function mediaTypeFromUrl(url: string): string | undefined {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return undefined;
  }
  const dot = path.lastIndexOf('.');
  return dot < 0 ? undefined : BY_EXTENSION[path.slice(dot + 1).toLowerCase()];
}
