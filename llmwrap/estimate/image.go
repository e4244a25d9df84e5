package estimate

import (
	"encoding/base64"
	"encoding/binary"
	"strings"
	"unsafe"
)

// maxImageHeader bounds how much of a data URL is decoded to find an image's size. A
// JPEG's size comes after its metadata segments, which are usually far shorter.
const maxImageHeader = 64 << 10

// dataURLImageSize reads the size of an image inlined as a base64 data URL. It
// reports false for plain URLs (fetched by the provider, size unknown here) and for
// anything malformed.
func dataURLImageSize(url string) (w, h uint64, ok bool) {
	const prefix = "data:"
	if !hasPrefixFold(url, prefix) {
		return 0, 0, false
	}
	comma := strings.IndexByte(url, ',')
	if comma < 0 || !strings.HasSuffix(strings.ToLower(url[len(prefix):comma]), ";base64") {
		return 0, 0, false
	}
	src := url[comma+1:]
	if n := min(len(src), maxImageHeader/3*4) &^ 3; n < len(src) {
		src = src[:n] // whole quanta only, so that a prefix decodes cleanly
	}
	bp := jsonBufs.Get().(*[]byte)
	defer jsonBufs.Put(bp)
	need := base64.StdEncoding.DecodedLen(len(src))
	if cap(*bp) < need {
		*bp = make([]byte, 0, need)
	}
	buf := (*bp)[:need]
	n, err := base64.StdEncoding.Decode(buf, unsafe.Slice(unsafe.StringData(src), len(src))) // read only
	if err != nil && n == 0 {
		return 0, 0, false
	}
	return imageSize(buf[:n])
}

// imageSize reads the pixel size from a PNG, GIF, JPEG or WebP header. It never reads
// past data and reports false for anything else or anything truncated.
func imageSize(b []byte) (w, h uint64, ok bool) {
	switch {
	case len(b) >= 24 && string(b[:8]) == "\x89PNG\r\n\x1a\n" && string(b[12:16]) == "IHDR":
		w, h = uint64(binary.BigEndian.Uint32(b[16:])), uint64(binary.BigEndian.Uint32(b[20:]))
	case len(b) >= 10 && (string(b[:6]) == "GIF87a" || string(b[:6]) == "GIF89a"):
		w, h = uint64(binary.LittleEndian.Uint16(b[6:])), uint64(binary.LittleEndian.Uint16(b[8:]))
	case len(b) >= 4 && b[0] == 0xFF && b[1] == 0xD8:
		return jpegSize(b)
	case len(b) >= 30 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return webpSize(b)
	default:
		return 0, 0, false
	}
	return w, h, w > 0 && h > 0
}

func jpegSize(b []byte) (w, h uint64, ok bool) {
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return 0, 0, false
		}
		marker := b[i+1]
		switch {
		case marker == 0xFF: // fill byte
			i++
			continue
		case marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8): // no length
			i += 2
			continue
		case marker == 0xD9 || marker == 0xDA: // end of image, start of scan: no SOF seen
			return 0, 0, false
		}
		seg := int(binary.BigEndian.Uint16(b[i+2:]))
		if seg < 2 {
			return 0, 0, false
		}
		if marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC {
			if i+9 > len(b) {
				return 0, 0, false
			}
			h = uint64(binary.BigEndian.Uint16(b[i+5:]))
			w = uint64(binary.BigEndian.Uint16(b[i+7:]))
			return w, h, w > 0 && h > 0
		}
		i += 2 + seg
	}
	return 0, 0, false
}

func webpSize(b []byte) (w, h uint64, ok bool) {
	switch string(b[12:16]) {
	case "VP8X":
		w = 1 + (uint64(b[24]) | uint64(b[25])<<8 | uint64(b[26])<<16)
		h = 1 + (uint64(b[27]) | uint64(b[28])<<8 | uint64(b[29])<<16)
	case "VP8L":
		if b[20] != 0x2F {
			return 0, 0, false
		}
		v := binary.LittleEndian.Uint32(b[21:])
		w, h = 1+uint64(v&0x3FFF), 1+uint64(v>>14&0x3FFF)
	case "VP8 ":
		w = uint64(binary.LittleEndian.Uint16(b[26:]) & 0x3FFF)
		h = uint64(binary.LittleEndian.Uint16(b[28:]) & 0x3FFF)
	default:
		return 0, 0, false
	}
	return w, h, w > 0 && h > 0
}
