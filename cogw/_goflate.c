/*
 * _goflate: a DEFLATE (RFC 1951) compressor that produces exactly the bytes of
 * Go's compress/flate writer, so that gzip layers packed here are byte-identical
 * to the ones Cog (written in Go) packs.
 *
 * This file follows the algorithm of Go's compress/flate package (deflate.go,
 * deflatefast.go, huffman_bit_writer.go, huffman_code.go, token.go) in the form
 * it has had up to Go 1.26 (checked against Go 1.19's own output; Go 1.27 changed
 * it): the same hash chains, lazy matching, block splitting, Huffman tree
 * construction and stored/fixed/dynamic choice, so that every output bit
 * matches. That package is
 *
 *     Copyright 2009 The Go Authors. All rights reserved.
 *     Use of this source code is governed by a BSD-style license
 *     (https://go.dev/LICENSE).
 *
 * Streaming: Compressor(level).compress(data) -> bytes, .flush() -> bytes (the
 * end of the stream). The window is processed only when it is full or at the
 * end, which is what Go does for a single Write of the whole input, so the
 * output depends only on the input bytes, never on how they were chunked.
 * Memory is bounded: a 64 KiB window, 640 KiB of hash chains, a token buffer.
 * The GIL is released while compressing.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- constants (deflate.go, huffman_bit_writer.go, deflatefast.go) ------------------------ */

#define LOG_WINDOW_SIZE 15
#define WINDOW_SIZE (1 << LOG_WINDOW_SIZE)
#define WINDOW_MASK (WINDOW_SIZE - 1)
#define BASE_MATCH_LENGTH 3
#define MIN_MATCH_LENGTH 4
#define MAX_MATCH_LENGTH 258
#define BASE_MATCH_OFFSET 1
#define MAX_MATCH_OFFSET (1 << 15)
#define MAX_FLATE_BLOCK_TOKENS (1 << 14)
#define MAX_STORE_BLOCK_SIZE 65535
#define HASH_BITS 17
#define HASH_SIZE (1 << HASH_BITS)
#define HASH_MASK (HASH_SIZE - 1)
#define MAX_HASH_OFFSET (1 << 24)
#define SKIP_NEVER INT32_MAX
#define HASHMUL 0x1e35a7bdu

#define MAX_NUM_LIT 286
#define OFFSET_CODE_COUNT 30
#define END_BLOCK_MARKER 256
#define LENGTH_CODES_START 257
#define CODEGEN_CODE_COUNT 19
#define BAD_CODE 255
#define MAX_BITS_LIMIT 16

#define LENGTH_SHIFT 22
#define OFFSET_MASK ((1u << LENGTH_SHIFT) - 1)
#define MATCH_TYPE (1u << 30)

#define TABLE_BITS 14
#define TABLE_SIZE (1 << TABLE_BITS)
#define TABLE_MASK (TABLE_SIZE - 1)
#define TABLE_SHIFT (32 - TABLE_BITS)
#define BUFFER_RESET (INT32_MAX - MAX_STORE_BLOCK_SIZE * 2)
#define INPUT_MARGIN (16 - 1)
#define MIN_NON_LITERAL_BLOCK_SIZE (1 + 1 + INPUT_MARGIN)

enum mode { MODE_STORE, MODE_HUFF, MODE_FAST, MODE_DEFLATE };

typedef struct {
    int level, good, lazy, nice, chain, fast_skip_hashing;
} level_params;

static const level_params LEVELS[10] = {
    {0, 0, 0, 0, 0, 0},
    {1, 0, 0, 0, 0, 0},
    {2, 4, 0, 16, 8, 5},
    {3, 4, 0, 32, 32, 6},
    {4, 4, 4, 16, 16, SKIP_NEVER},
    {5, 8, 16, 32, 32, SKIP_NEVER},
    {6, 8, 16, 128, 128, SKIP_NEVER},
    {7, 8, 32, 128, 256, SKIP_NEVER},
    {8, 32, 128, 258, 1024, SKIP_NEVER},
    {9, 32, 258, 258, 4096, SKIP_NEVER},
};

static const int8_t LENGTH_EXTRA_BITS[29] = {
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
};
static const uint32_t LENGTH_BASE[29] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56,
    64, 80, 96, 112, 128, 160, 192, 224, 255,
};
static const int8_t OFFSET_EXTRA_BITS[30] = {
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8,
    9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
};
static const uint32_t OFFSET_BASE[30] = {
    0x000000, 0x000001, 0x000002, 0x000003, 0x000004, 0x000006, 0x000008, 0x00000c,
    0x000010, 0x000018, 0x000020, 0x000030, 0x000040, 0x000060, 0x000080, 0x0000c0,
    0x000100, 0x000180, 0x000200, 0x000300, 0x000400, 0x000600, 0x000800, 0x000c00,
    0x001000, 0x001800, 0x002000, 0x003000, 0x004000, 0x006000,
};
static const uint32_t CODEGEN_ORDER[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

/* lengthCodes[length - 3] and offsetCodes[offset - 1] (token.go), filled at import. */
static uint8_t LENGTH_CODES[256];
static uint8_t OFFSET_CODES[256];

/* ---- Huffman encoder (huffman_code.go) ----------------------------------------------------- */

typedef struct {
    uint16_t code, len;
} hcode;

typedef struct {
    uint16_t literal;
    int32_t freq;
} lnode;

typedef struct {
    hcode codes[MAX_NUM_LIT];
    int ncodes;
    int32_t bit_count[17];
    lnode freqcache[MAX_NUM_LIT + 1];
} hencoder;

typedef struct {
    int32_t level, last_freq, next_char_freq, next_pair_freq, needed;
} level_info;

static hencoder FIXED_LITERAL;
static hencoder FIXED_OFFSET;
static hencoder HUFF_OFFSET;

static uint16_t reverse_bits(uint16_t number, int bit_length) {
    uint16_t v = (uint16_t)(number << (16 - bit_length));
    uint16_t r = 0;
    for (int i = 0; i < 16; i++) {
        r = (uint16_t)((r << 1) | (v & 1));
        v >>= 1;
    }
    return r;
}

static int32_t add32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

static int by_freq(const void *pa, const void *pb) {
    const lnode *a = pa, *b = pb;
    if (a->freq == b->freq) return (int)a->literal - (int)b->literal;
    return a->freq < b->freq ? -1 : 1;
}

static int by_literal(const void *pa, const void *pb) {
    const lnode *a = pa, *b = pb;
    return (int)a->literal - (int)b->literal;
}

static int bit_length(const hencoder *h, const int32_t *freq, int n) {
    int total = 0;
    for (int i = 0; i < n; i++)
        if (freq[i] != 0) total += (int)freq[i] * (int)h->codes[i].len;
    return total;
}

/* bitCounts: the number of literals for each code length (a boundary package-merge). */
static int bit_counts(hencoder *h, lnode *list, int32_t n, int32_t max_bits) {
    level_info levels[MAX_BITS_LIMIT + 1];
    int32_t leaf_counts[MAX_BITS_LIMIT + 1][MAX_BITS_LIMIT + 1];
    memset(levels, 0, sizeof levels);
    memset(leaf_counts, 0, sizeof leaf_counts);
    list[n].literal = UINT16_MAX;
    list[n].freq = INT32_MAX;
    if (max_bits > n - 1) max_bits = n - 1;
    for (int32_t level = 1; level <= max_bits; level++) {
        levels[level].level = level;
        levels[level].last_freq = list[1].freq;
        levels[level].next_char_freq = list[2].freq;
        levels[level].next_pair_freq = add32(list[0].freq, list[1].freq);
        leaf_counts[level][level] = 2;
        if (level == 1) levels[level].next_pair_freq = INT32_MAX;
    }
    levels[max_bits].needed = 2 * n - 4;
    int32_t level = max_bits;
    for (;;) {
        level_info *l = &levels[level];
        if (l->next_pair_freq == INT32_MAX && l->next_char_freq == INT32_MAX) {
            l->needed = 0;
            levels[level + 1].next_pair_freq = INT32_MAX;
            level++;
            continue;
        }
        int32_t prev_freq = l->last_freq;
        if (l->next_char_freq < l->next_pair_freq) {
            int32_t nn = leaf_counts[level][level] + 1;
            l->last_freq = l->next_char_freq;
            leaf_counts[level][level] = nn;
            l->next_char_freq = list[nn].freq;
        } else {
            l->last_freq = l->next_pair_freq;
            memcpy(leaf_counts[level], leaf_counts[level - 1], sizeof(int32_t) * (size_t)level);
            levels[l->level - 1].needed = 2;
        }
        if (--l->needed == 0) {
            if (l->level == max_bits) break;
            levels[l->level + 1].next_pair_freq = add32(prev_freq, l->last_freq);
            level++;
        } else {
            while (levels[level - 1].needed > 0) level--;
        }
    }
    int32_t *counts = leaf_counts[max_bits];
    int bits = 1;
    for (int32_t lv = max_bits; lv > 0; lv--) {
        h->bit_count[bits] = counts[lv] - counts[lv - 1];
        bits++;
    }
    return (int)max_bits + 1;
}

static void assign_encoding_and_size(hencoder *h, int nbit_count, lnode *list, int count) {
    uint16_t code = 0;
    for (int n = 0; n < nbit_count; n++) {
        int32_t bits = h->bit_count[n];
        code = (uint16_t)(code << 1);
        if (n == 0 || bits == 0) continue;
        lnode *chunk = list + count - bits;
        qsort(chunk, (size_t)bits, sizeof(lnode), by_literal);
        for (int32_t i = 0; i < bits; i++) {
            h->codes[chunk[i].literal].code = reverse_bits(code, n);
            h->codes[chunk[i].literal].len = (uint16_t)n;
            code++;
        }
        count -= bits;
    }
}

static void generate(hencoder *h, const int32_t *freq, int nfreq, int32_t max_bits) {
    lnode *list = h->freqcache;
    int count = 0;
    for (int i = 0; i < nfreq; i++) {
        if (freq[i] != 0) {
            list[count].literal = (uint16_t)i;
            list[count].freq = freq[i];
            count++;
        } else {
            h->codes[i].len = 0;
        }
    }
    if (count <= 2) {
        for (int i = 0; i < count; i++) {
            h->codes[list[i].literal].code = (uint16_t)i;
            h->codes[list[i].literal].len = 1;
        }
        return;
    }
    qsort(list, (size_t)count, sizeof(lnode), by_freq);
    int nbc = bit_counts(h, list, count, max_bits);
    assign_encoding_and_size(h, nbc, list, count);
}

static void init_tables(void) {
    memset(&FIXED_LITERAL, 0, sizeof FIXED_LITERAL);
    FIXED_LITERAL.ncodes = MAX_NUM_LIT;
    for (uint16_t ch = 0; ch < MAX_NUM_LIT; ch++) {
        uint16_t bits, size;
        if (ch < 144) {
            bits = (uint16_t)(ch + 48);
            size = 8;
        } else if (ch < 256) {
            bits = (uint16_t)(ch + 400 - 144);
            size = 9;
        } else if (ch < 280) {
            bits = (uint16_t)(ch - 256);
            size = 7;
        } else {
            bits = (uint16_t)(ch + 192 - 280);
            size = 8;
        }
        FIXED_LITERAL.codes[ch].code = reverse_bits(bits, size);
        FIXED_LITERAL.codes[ch].len = size;
    }
    memset(&FIXED_OFFSET, 0, sizeof FIXED_OFFSET);
    FIXED_OFFSET.ncodes = OFFSET_CODE_COUNT;
    for (uint16_t ch = 0; ch < OFFSET_CODE_COUNT; ch++) {
        FIXED_OFFSET.codes[ch].code = reverse_bits(ch, 5);
        FIXED_OFFSET.codes[ch].len = 5;
    }
    int32_t offset_freq[OFFSET_CODE_COUNT] = {0};
    offset_freq[0] = 1;
    memset(&HUFF_OFFSET, 0, sizeof HUFF_OFFSET);
    HUFF_OFFSET.ncodes = OFFSET_CODE_COUNT;
    generate(&HUFF_OFFSET, offset_freq, OFFSET_CODE_COUNT, 15);

    /* token.go's lengthCodes and offsetCodes tables, derived from the base tables. */
    for (int code = 0; code < 28; code++)
        for (uint32_t x = LENGTH_BASE[code]; x < LENGTH_BASE[code + 1]; x++) LENGTH_CODES[x] = (uint8_t)code;
    LENGTH_CODES[255] = 28;
    for (int code = 0; code < 16; code++) {
        uint32_t end = code == 15 ? 256 : OFFSET_BASE[code + 1];
        for (uint32_t x = OFFSET_BASE[code]; x < end; x++) OFFSET_CODES[x] = (uint8_t)code;
    }
}

static inline uint32_t offset_code(uint32_t off) {
    if (off < 256) return OFFSET_CODES[off];
    if ((off >> 7) < 256) return OFFSET_CODES[off >> 7] + 14u;
    return OFFSET_CODES[off >> 14] + 28u;
}

/* ---- the compressor state ----------------------------------------------------------------- */

typedef struct {
    uint32_t val;
    int32_t offset;
} table_entry;

typedef struct {
    level_params p;
    enum mode mode;
    int sync;
    int oom; /* an allocation failed: the stream is broken */

    /* window: unprocessed data is window[index:window_end] */
    uint8_t *window;
    int window_cap;
    int window_end;
    int index;
    int block_start;
    int byte_available;

    /* hash chains (levels 2-9) */
    int chain_head;
    int hash_offset;
    uint32_t *hash_head;
    uint32_t *hash_prev;
    int length, offset, max_insert_index;

    uint32_t *tokens;
    int ntokens;

    /* BestSpeed (deflatefast.go) */
    table_entry *table;
    uint8_t *prev;
    int32_t prev_len;
    int32_t cur;

    /* huffmanBitWriter */
    uint64_t bits;
    unsigned nbits;
    int32_t literal_freq[MAX_NUM_LIT];
    int32_t offset_freq[OFFSET_CODE_COUNT];
    int32_t codegen_freq[CODEGEN_CODE_COUNT];
    uint8_t codegen[MAX_NUM_LIT + OFFSET_CODE_COUNT + 1];
    hencoder literal_encoding;
    hencoder offset_encoding;
    hencoder codegen_encoding;

    /* output collected during one call */
    uint8_t *out;
    size_t out_len, out_cap;
} gf;

/* ---- output and bit writer (huffman_bit_writer.go) ---------------------------------------- */

static int out_reserve(gf *d, size_t extra) {
    if (d->out_len + extra <= d->out_cap) return 1;
    size_t cap = d->out_cap ? d->out_cap : 4096;
    while (cap < d->out_len + extra) cap *= 2;
    uint8_t *p = realloc(d->out, cap);
    if (p == NULL) {
        d->oom = 1;
        return 0;
    }
    d->out = p;
    d->out_cap = cap;
    return 1;
}

static inline void emit6(gf *d) {
    if (d->out_len + 6 > d->out_cap && !out_reserve(d, 6)) return;
    uint64_t bits = d->bits;
    uint8_t *o = d->out + d->out_len;
    o[0] = (uint8_t)bits;
    o[1] = (uint8_t)(bits >> 8);
    o[2] = (uint8_t)(bits >> 16);
    o[3] = (uint8_t)(bits >> 24);
    o[4] = (uint8_t)(bits >> 32);
    o[5] = (uint8_t)(bits >> 40);
    d->out_len += 6;
    d->bits >>= 48;
    d->nbits -= 48;
}

static inline void write_bits(gf *d, int32_t b, unsigned nb) {
    d->bits |= (uint64_t)(uint32_t)b << d->nbits;
    d->nbits += nb;
    if (d->nbits >= 48) emit6(d);
}

static inline void write_code(gf *d, hcode c) {
    d->bits |= (uint64_t)c.code << d->nbits;
    d->nbits += c.len;
    if (d->nbits >= 48) emit6(d);
}

static void bw_flush(gf *d) {
    if (!out_reserve(d, 8)) return;
    while (d->nbits != 0) {
        d->out[d->out_len++] = (uint8_t)d->bits;
        d->bits >>= 8;
        d->nbits = d->nbits > 8 ? d->nbits - 8 : 0;
    }
    d->bits = 0;
}

static void write_bytes(gf *d, const uint8_t *b, size_t n) {
    /* nbits is a multiple of 8 here: a stored header has just been written. */
    if (!out_reserve(d, 8 + n)) return;
    while (d->nbits != 0) {
        d->out[d->out_len++] = (uint8_t)d->bits;
        d->bits >>= 8;
        d->nbits -= 8;
    }
    if (n) memcpy(d->out + d->out_len, b, n);
    d->out_len += n;
}

static void generate_codegen(gf *d, int num_literals, int num_offsets, const hencoder *lit_enc,
                             const hencoder *off_enc) {
    memset(d->codegen_freq, 0, sizeof d->codegen_freq);
    uint8_t *codegen = d->codegen;
    for (int i = 0; i < num_literals; i++) codegen[i] = (uint8_t)lit_enc->codes[i].len;
    for (int i = 0; i < num_offsets; i++) codegen[num_literals + i] = (uint8_t)off_enc->codes[i].len;
    codegen[num_literals + num_offsets] = BAD_CODE;

    uint8_t size = codegen[0];
    int count = 1;
    int out_index = 0;
    for (int in_index = 1; size != BAD_CODE; in_index++) {
        uint8_t next_size = codegen[in_index];
        if (next_size == size) {
            count++;
            continue;
        }
        if (size != 0) {
            codegen[out_index++] = size;
            d->codegen_freq[size]++;
            count--;
            while (count >= 3) {
                int n = count < 6 ? count : 6;
                codegen[out_index++] = 16;
                codegen[out_index++] = (uint8_t)(n - 3);
                d->codegen_freq[16]++;
                count -= n;
            }
        } else {
            while (count >= 11) {
                int n = count < 138 ? count : 138;
                codegen[out_index++] = 18;
                codegen[out_index++] = (uint8_t)(n - 11);
                d->codegen_freq[18]++;
                count -= n;
            }
            if (count >= 3) {
                codegen[out_index++] = 17;
                codegen[out_index++] = (uint8_t)(count - 3);
                d->codegen_freq[17]++;
                count = 0;
            }
        }
        count--;
        for (; count >= 0; count--) {
            codegen[out_index++] = size;
            d->codegen_freq[size]++;
        }
        size = next_size;
        count = 1;
    }
    codegen[out_index] = BAD_CODE;
}

static int dynamic_size(gf *d, const hencoder *lit_enc, const hencoder *off_enc, int extra_bits,
                        int *num_codegens_out) {
    int num_codegens = CODEGEN_CODE_COUNT;
    while (num_codegens > 4 && d->codegen_freq[CODEGEN_ORDER[num_codegens - 1]] == 0) num_codegens--;
    int header = 3 + 5 + 5 + 4 + (3 * num_codegens) +
                 bit_length(&d->codegen_encoding, d->codegen_freq, CODEGEN_CODE_COUNT) +
                 (int)d->codegen_freq[16] * 2 + (int)d->codegen_freq[17] * 3 +
                 (int)d->codegen_freq[18] * 7;
    *num_codegens_out = num_codegens;
    return header + bit_length(lit_enc, d->literal_freq, MAX_NUM_LIT) +
           bit_length(off_enc, d->offset_freq, OFFSET_CODE_COUNT) + extra_bits;
}

static int fixed_size(gf *d, int extra_bits) {
    return 3 + bit_length(&FIXED_LITERAL, d->literal_freq, MAX_NUM_LIT) +
           bit_length(&FIXED_OFFSET, d->offset_freq, OFFSET_CODE_COUNT) + extra_bits;
}

/* storedSize: in == NULL means "no input available" (Go's nil slice). */
static int stored_size(const uint8_t *in, int n, int *storable) {
    if (in == NULL || n > MAX_STORE_BLOCK_SIZE) {
        *storable = 0;
        return 0;
    }
    *storable = 1;
    return (n + 5) * 8;
}

static void write_dynamic_header(gf *d, int num_literals, int num_offsets, int num_codegens, int is_eof) {
    write_bits(d, is_eof ? 5 : 4, 3);
    write_bits(d, num_literals - 257, 5);
    write_bits(d, num_offsets - 1, 5);
    write_bits(d, num_codegens - 4, 4);
    for (int i = 0; i < num_codegens; i++)
        write_bits(d, d->codegen_encoding.codes[CODEGEN_ORDER[i]].len, 3);
    int i = 0;
    for (;;) {
        int code_word = d->codegen[i++];
        if (code_word == BAD_CODE) break;
        write_code(d, d->codegen_encoding.codes[code_word]);
        if (code_word == 16) {
            write_bits(d, d->codegen[i++], 2);
        } else if (code_word == 17) {
            write_bits(d, d->codegen[i++], 3);
        } else if (code_word == 18) {
            write_bits(d, d->codegen[i++], 7);
        }
    }
}

static void write_stored_header(gf *d, int length, int is_eof) {
    write_bits(d, is_eof ? 1 : 0, 3);
    bw_flush(d);
    write_bits(d, length, 16);
    write_bits(d, (int32_t)(uint16_t)~(uint16_t)length, 16);
}

static void write_fixed_header(gf *d, int is_eof) { write_bits(d, is_eof ? 3 : 2, 3); }

static void index_tokens(gf *d, const uint32_t *tokens, int n, int *num_literals, int *num_offsets) {
    memset(d->literal_freq, 0, sizeof d->literal_freq);
    memset(d->offset_freq, 0, sizeof d->offset_freq);
    for (int i = 0; i < n; i++) {
        uint32_t t = tokens[i];
        if (t < MATCH_TYPE) {
            d->literal_freq[t]++;
            continue;
        }
        uint32_t length = (t - MATCH_TYPE) >> LENGTH_SHIFT;
        uint32_t offset = t & OFFSET_MASK;
        d->literal_freq[LENGTH_CODES_START + LENGTH_CODES[length]]++;
        d->offset_freq[offset_code(offset)]++;
    }
    int nl = MAX_NUM_LIT;
    while (d->literal_freq[nl - 1] == 0) nl--;
    int no = OFFSET_CODE_COUNT;
    while (no > 0 && d->offset_freq[no - 1] == 0) no--;
    if (no == 0) {
        d->offset_freq[0] = 1;
        no = 1;
    }
    generate(&d->literal_encoding, d->literal_freq, MAX_NUM_LIT, 15);
    generate(&d->offset_encoding, d->offset_freq, OFFSET_CODE_COUNT, 15);
    *num_literals = nl;
    *num_offsets = no;
}

static void write_tokens(gf *d, const uint32_t *tokens, int n, const hcode *le, const hcode *oe) {
    /* Worst case per token: 15 + 5 + 15 + 13 bits; reserve so emit6 never reallocates. */
    if (!out_reserve(d, (size_t)n * 7 + 16)) return;
    for (int i = 0; i < n; i++) {
        uint32_t t = tokens[i];
        if (t < MATCH_TYPE) {
            write_code(d, le[t]);
            continue;
        }
        uint32_t length = (t - MATCH_TYPE) >> LENGTH_SHIFT;
        uint32_t lc = LENGTH_CODES[length];
        write_code(d, le[lc + LENGTH_CODES_START]);
        unsigned extra_length_bits = (unsigned)LENGTH_EXTRA_BITS[lc];
        if (extra_length_bits > 0) write_bits(d, (int32_t)(length - LENGTH_BASE[lc]), extra_length_bits);
        uint32_t offset = t & OFFSET_MASK;
        uint32_t oc = offset_code(offset);
        write_code(d, oe[oc]);
        unsigned extra_offset_bits = (unsigned)OFFSET_EXTRA_BITS[oc];
        if (extra_offset_bits > 0) write_bits(d, (int32_t)(offset - OFFSET_BASE[oc]), extra_offset_bits);
    }
}

/* writeBlock: the smallest of stored, fixed and dynamic for these tokens. The token buffer
 * has room for the end-of-block marker appended here. */
static void write_block(gf *d, uint32_t *tokens, int n, int eof, const uint8_t *input, int input_len) {
    tokens[n++] = END_BLOCK_MARKER;
    int num_literals, num_offsets;
    index_tokens(d, tokens, n, &num_literals, &num_offsets);
    int extra_bits = 0;
    int storable;
    int ssize = stored_size(input, input_len, &storable);
    if (storable) {
        for (int lc = LENGTH_CODES_START + 8; lc < num_literals; lc++)
            extra_bits += (int)d->literal_freq[lc] * (int)LENGTH_EXTRA_BITS[lc - LENGTH_CODES_START];
        for (int oc = 4; oc < num_offsets; oc++)
            extra_bits += (int)d->offset_freq[oc] * (int)OFFSET_EXTRA_BITS[oc];
    }
    const hencoder *lit = &FIXED_LITERAL, *off = &FIXED_OFFSET;
    int size = fixed_size(d, extra_bits);
    generate_codegen(d, num_literals, num_offsets, &d->literal_encoding, &d->offset_encoding);
    generate(&d->codegen_encoding, d->codegen_freq, CODEGEN_CODE_COUNT, 7);
    int num_codegens;
    int dsize = dynamic_size(d, &d->literal_encoding, &d->offset_encoding, extra_bits, &num_codegens);
    if (dsize < size) {
        size = dsize;
        lit = &d->literal_encoding;
        off = &d->offset_encoding;
    }
    if (storable && ssize < size) {
        write_stored_header(d, input_len, eof);
        write_bytes(d, input, (size_t)input_len);
        return;
    }
    if (lit == &FIXED_LITERAL)
        write_fixed_header(d, eof);
    else
        write_dynamic_header(d, num_literals, num_offsets, num_codegens, eof);
    write_tokens(d, tokens, n, lit->codes, off->codes);
}

static void write_block_dynamic(gf *d, uint32_t *tokens, int n, int eof, const uint8_t *input,
                                int input_len) {
    tokens[n++] = END_BLOCK_MARKER;
    int num_literals, num_offsets;
    index_tokens(d, tokens, n, &num_literals, &num_offsets);
    generate_codegen(d, num_literals, num_offsets, &d->literal_encoding, &d->offset_encoding);
    generate(&d->codegen_encoding, d->codegen_freq, CODEGEN_CODE_COUNT, 7);
    int num_codegens;
    int size = dynamic_size(d, &d->literal_encoding, &d->offset_encoding, 0, &num_codegens);
    int storable;
    int ssize = stored_size(input, input_len, &storable);
    if (storable && ssize < size + (size >> 4)) {
        write_stored_header(d, input_len, eof);
        write_bytes(d, input, (size_t)input_len);
        return;
    }
    write_dynamic_header(d, num_literals, num_offsets, num_codegens, eof);
    write_tokens(d, tokens, n, d->literal_encoding.codes, d->offset_encoding.codes);
}

static void write_block_huff(gf *d, int eof, const uint8_t *input, int input_len) {
    memset(d->literal_freq, 0, sizeof d->literal_freq);
    for (int i = 0; i < input_len; i++) d->literal_freq[input[i]]++;
    d->literal_freq[END_BLOCK_MARKER] = 1;
    const int num_literals = END_BLOCK_MARKER + 1;
    d->offset_freq[0] = 1;
    const int num_offsets = 1;
    generate(&d->literal_encoding, d->literal_freq, MAX_NUM_LIT, 15);
    generate_codegen(d, num_literals, num_offsets, &d->literal_encoding, &HUFF_OFFSET);
    generate(&d->codegen_encoding, d->codegen_freq, CODEGEN_CODE_COUNT, 7);
    int num_codegens;
    int size = dynamic_size(d, &d->literal_encoding, &HUFF_OFFSET, 0, &num_codegens);
    int storable;
    int ssize = stored_size(input, input_len, &storable);
    if (storable && ssize < size + (size >> 4)) {
        write_stored_header(d, input_len, eof);
        write_bytes(d, input, (size_t)input_len);
        return;
    }
    write_dynamic_header(d, num_literals, num_offsets, num_codegens, eof);
    if (!out_reserve(d, (size_t)input_len * 2 + 16)) return;
    const hcode *encoding = d->literal_encoding.codes;
    for (int i = 0; i < input_len; i++) write_code(d, encoding[input[i]]);
    write_code(d, encoding[END_BLOCK_MARKER]);
}

static void write_stored_block(gf *d, const uint8_t *buf, int n) {
    write_stored_header(d, n, 0);
    write_bytes(d, buf, (size_t)n);
}

/* ---- levels 2-9 (deflate.go) -------------------------------------------------------------- */

static inline uint32_t hash4(const uint8_t *b) {
    uint32_t v = (uint32_t)b[3] | (uint32_t)b[2] << 8 | (uint32_t)b[1] << 16 | (uint32_t)b[0] << 24;
    return (v * HASHMUL) >> (32 - HASH_BITS);
}

/* matchLen: the common prefix of a and b, at most max bytes. */
static inline int match_len(const uint8_t *a, const uint8_t *b, int max) {
    int i = 0;
    while (i + 8 <= max) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        uint64_t diff = x ^ y;
        if (diff) {
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return i + (__builtin_ctzll(diff) >> 3);
#else
            while (a[i] == b[i]) i++;
            return i;
#endif
        }
        i += 8;
    }
    while (i < max && a[i] == b[i]) i++;
    return i;
}

static void fill_deflate_shift(gf *d) {
    if (d->index < 2 * WINDOW_SIZE - (MIN_MATCH_LENGTH + MAX_MATCH_LENGTH)) return;
    memmove(d->window, d->window + WINDOW_SIZE, WINDOW_SIZE);
    d->index -= WINDOW_SIZE;
    d->window_end -= WINDOW_SIZE;
    if (d->block_start >= WINDOW_SIZE)
        d->block_start -= WINDOW_SIZE;
    else
        d->block_start = INT32_MAX;
    d->hash_offset += WINDOW_SIZE;
    if (d->hash_offset > MAX_HASH_OFFSET) {
        int delta = d->hash_offset - 1;
        d->hash_offset -= delta;
        d->chain_head -= delta;
        for (int i = 0; i < WINDOW_SIZE; i++) {
            uint32_t v = d->hash_prev[i];
            d->hash_prev[i] = (int64_t)v > delta ? (uint32_t)((int64_t)v - delta) : 0;
        }
        for (int i = 0; i < HASH_SIZE; i++) {
            uint32_t v = d->hash_head[i];
            d->hash_head[i] = (int64_t)v > delta ? (uint32_t)((int64_t)v - delta) : 0;
        }
    }
}

static int find_match(gf *d, int pos, int prev_head, int prev_length, int lookahead, int *out_length,
                      int *out_offset) {
    int min_match_look = lookahead < MAX_MATCH_LENGTH ? lookahead : MAX_MATCH_LENGTH;
    const uint8_t *win = d->window;
    int nice = min_match_look;
    if (d->p.nice < nice) nice = d->p.nice;
    int tries = d->p.chain;
    int length = prev_length;
    int offset = 0;
    int ok = 0;
    if (length >= d->p.good) tries >>= 2;
    uint8_t w_end = win[pos + length];
    const uint8_t *w_pos = win + pos;
    int min_index = pos - WINDOW_SIZE;
    for (int i = prev_head; tries > 0; tries--) {
        if (w_end == win[i + length]) {
            int n = match_len(win + i, w_pos, min_match_look);
            if (n > length && (n > MIN_MATCH_LENGTH || pos - i <= 4096)) {
                length = n;
                offset = pos - i;
                ok = 1;
                if (n >= nice) break;
                w_end = win[pos + n];
            }
        }
        if (i == min_index) break;
        i = (int)((int64_t)d->hash_prev[i & WINDOW_MASK] - d->hash_offset);
        if (i < min_index || i < 0) break;
    }
    *out_length = length;
    *out_offset = offset;
    return ok;
}

static void deflate_write_block(gf *d, int index) {
    if (index > 0) {
        const uint8_t *window = NULL;
        int len = 0;
        if (d->block_start <= index) {
            window = d->window + d->block_start;
            len = index - d->block_start;
        }
        d->block_start = index;
        write_block(d, d->tokens, d->ntokens, 0, window, len);
    }
    d->ntokens = 0;
}

static inline void insert_hash(gf *d, int index) {
    uint32_t hash = hash4(d->window + index);
    uint32_t *hh = &d->hash_head[hash & HASH_MASK];
    d->hash_prev[index & WINDOW_MASK] = *hh;
    *hh = (uint32_t)(index + d->hash_offset);
}

static void step_deflate(gf *d) {
    if (d->window_end - d->index < MIN_MATCH_LENGTH + MAX_MATCH_LENGTH && !d->sync) return;
    d->max_insert_index = d->window_end - (MIN_MATCH_LENGTH - 1);
    const int skip = d->p.fast_skip_hashing;
    const int lazy_mode = skip == SKIP_NEVER;
    for (;;) {
        int lookahead = d->window_end - d->index;
        if (lookahead < MIN_MATCH_LENGTH + MAX_MATCH_LENGTH) {
            if (!d->sync) break;
            if (lookahead == 0) {
                if (d->byte_available) {
                    d->tokens[d->ntokens++] = d->window[d->index - 1];
                    d->byte_available = 0;
                }
                if (d->ntokens > 0) deflate_write_block(d, d->index);
                break;
            }
        }
        if (d->index < d->max_insert_index) {
            uint32_t hash = hash4(d->window + d->index);
            uint32_t *hh = &d->hash_head[hash & HASH_MASK];
            d->chain_head = (int)*hh;
            d->hash_prev[d->index & WINDOW_MASK] = (uint32_t)d->chain_head;
            *hh = (uint32_t)(d->index + d->hash_offset);
        }
        int prev_length = d->length;
        int prev_offset = d->offset;
        d->length = MIN_MATCH_LENGTH - 1;
        d->offset = 0;
        int min_index = d->index - WINDOW_SIZE;
        if (min_index < 0) min_index = 0;

        if (d->chain_head - d->hash_offset >= min_index &&
            ((!lazy_mode && lookahead > MIN_MATCH_LENGTH - 1) ||
             (lazy_mode && lookahead > prev_length && prev_length < d->p.lazy))) {
            int nl, no;
            if (find_match(d, d->index, d->chain_head - d->hash_offset, MIN_MATCH_LENGTH - 1, lookahead,
                           &nl, &no)) {
                d->length = nl;
                d->offset = no;
            }
        }
        if ((!lazy_mode && d->length >= MIN_MATCH_LENGTH) ||
            (lazy_mode && prev_length >= MIN_MATCH_LENGTH && d->length <= prev_length)) {
            if (!lazy_mode)
                d->tokens[d->ntokens++] = MATCH_TYPE +
                                          ((uint32_t)(d->length - BASE_MATCH_LENGTH) << LENGTH_SHIFT) +
                                          (uint32_t)(d->offset - BASE_MATCH_OFFSET);
            else
                d->tokens[d->ntokens++] = MATCH_TYPE +
                                          ((uint32_t)(prev_length - BASE_MATCH_LENGTH) << LENGTH_SHIFT) +
                                          (uint32_t)(prev_offset - BASE_MATCH_OFFSET);
            if (d->length <= skip) {
                int new_index = lazy_mode ? d->index + prev_length - 1 : d->index + d->length;
                int index = d->index;
                for (index++; index < new_index; index++)
                    if (index < d->max_insert_index) insert_hash(d, index);
                d->index = index;
                if (lazy_mode) {
                    d->byte_available = 0;
                    d->length = MIN_MATCH_LENGTH - 1;
                }
            } else {
                d->index += d->length;
            }
            if (d->ntokens == MAX_FLATE_BLOCK_TOKENS) deflate_write_block(d, d->index);
        } else {
            if (!lazy_mode || d->byte_available) {
                int i = lazy_mode ? d->index - 1 : d->index;
                d->tokens[d->ntokens++] = d->window[i];
                if (d->ntokens == MAX_FLATE_BLOCK_TOKENS) deflate_write_block(d, i + 1);
            }
            d->index++;
            if (lazy_mode) d->byte_available = 1;
        }
        if (d->oom) return;
    }
}

/* ---- level 1 (deflatefast.go) ------------------------------------------------------------- */

static inline uint32_t load32(const uint8_t *b, int32_t i) {
    return (uint32_t)b[i] | (uint32_t)b[i + 1] << 8 | (uint32_t)b[i + 2] << 16 | (uint32_t)b[i + 3] << 24;
}

static inline uint64_t load64(const uint8_t *b, int32_t i) {
    return (uint64_t)load32(b, i) | (uint64_t)load32(b, i + 4) << 32;
}

static inline uint32_t fast_hash(uint32_t u) { return (u * HASHMUL) >> TABLE_SHIFT; }

static void fast_shift_offsets(gf *d) {
    if (d->prev_len == 0) {
        memset(d->table, 0, sizeof(table_entry) * TABLE_SIZE);
        d->cur = MAX_MATCH_OFFSET + 1;
        return;
    }
    for (int i = 0; i < TABLE_SIZE; i++) {
        int32_t v = d->table[i].offset - d->cur + MAX_MATCH_OFFSET + 1;
        if (v < 0) v = 0;
        d->table[i].offset = v;
    }
    d->cur = MAX_MATCH_OFFSET + 1;
}

static void fast_reset(gf *d) {
    d->prev_len = 0;
    d->cur += MAX_MATCH_OFFSET;
    if (d->cur >= BUFFER_RESET) fast_shift_offsets(d);
}

static int32_t fast_match_len(gf *d, int32_t s, int32_t t, const uint8_t *src, int32_t src_len) {
    int32_t s1 = s + MAX_MATCH_LENGTH - 4;
    if (s1 > src_len) s1 = src_len;
    if (t >= 0) return (int32_t)match_len(src + s, src + t, s1 - s);
    int32_t tp = d->prev_len + t;
    if (tp < 0) return 0;
    int32_t alen = s1 - s;
    int32_t blen = d->prev_len - tp;
    if (blen > alen) blen = alen;
    int32_t n = (int32_t)match_len(src + s, d->prev + tp, blen);
    if (n < blen) return n;
    if (s + n == s1) return n;
    return n + (int32_t)match_len(src + s + n, src, s1 - (s + n));
}

static int emit_literal(uint32_t *dst, int n, const uint8_t *lit, int32_t len) {
    for (int32_t i = 0; i < len; i++) dst[n++] = lit[i];
    return n;
}

static int fast_encode(gf *d, uint32_t *dst, const uint8_t *src, int32_t src_len) {
    int n = 0;
    if (d->cur >= BUFFER_RESET) fast_shift_offsets(d);
    if (src_len < MIN_NON_LITERAL_BLOCK_SIZE) {
        d->cur += MAX_STORE_BLOCK_SIZE;
        d->prev_len = 0;
        return emit_literal(dst, n, src, src_len);
    }
    table_entry *table = d->table;
    int32_t s_limit = src_len - INPUT_MARGIN;
    int32_t next_emit = 0;
    int32_t s = 0;
    uint32_t cv = load32(src, s);
    uint32_t next_hash = fast_hash(cv);
    for (;;) {
        int32_t skip = 32;
        int32_t next_s = s;
        table_entry candidate;
        for (;;) {
            s = next_s;
            int32_t between = skip >> 5;
            next_s = s + between;
            skip += between;
            if (next_s > s_limit) goto emit_remainder;
            candidate = table[next_hash & TABLE_MASK];
            uint32_t now = load32(src, next_s);
            table[next_hash & TABLE_MASK].offset = s + d->cur;
            table[next_hash & TABLE_MASK].val = cv;
            next_hash = fast_hash(now);
            int32_t offset = s - (candidate.offset - d->cur);
            if (offset > MAX_MATCH_OFFSET || cv != candidate.val) {
                cv = now;
                continue;
            }
            break;
        }
        n = emit_literal(dst, n, src + next_emit, s - next_emit);
        for (;;) {
            s += 4;
            int32_t t = candidate.offset - d->cur + 4;
            int32_t l = fast_match_len(d, s, t, src, src_len);
            dst[n++] = MATCH_TYPE + ((uint32_t)(l + 4 - BASE_MATCH_LENGTH) << LENGTH_SHIFT) +
                       (uint32_t)(s - t - BASE_MATCH_OFFSET);
            s += l;
            next_emit = s;
            if (s >= s_limit) goto emit_remainder;
            uint64_t x = load64(src, s - 1);
            uint32_t prev_hash = fast_hash((uint32_t)x);
            table[prev_hash & TABLE_MASK].offset = d->cur + s - 1;
            table[prev_hash & TABLE_MASK].val = (uint32_t)x;
            x >>= 8;
            uint32_t curr_hash = fast_hash((uint32_t)x);
            candidate = table[curr_hash & TABLE_MASK];
            table[curr_hash & TABLE_MASK].offset = d->cur + s;
            table[curr_hash & TABLE_MASK].val = (uint32_t)x;
            int32_t offset = s - (candidate.offset - d->cur);
            if (offset > MAX_MATCH_OFFSET || (uint32_t)x != candidate.val) {
                cv = (uint32_t)(x >> 8);
                next_hash = fast_hash(cv);
                s++;
                break;
            }
        }
    }
emit_remainder:
    if (next_emit < src_len) n = emit_literal(dst, n, src + next_emit, src_len - next_emit);
    d->cur += src_len;
    d->prev_len = src_len;
    memcpy(d->prev, src, (size_t)src_len);
    return n;
}

static void step_fast(gf *d) {
    if (d->window_end < MAX_STORE_BLOCK_SIZE) {
        if (!d->sync) return;
        if (d->window_end < 128) {
            if (d->window_end == 0) return;
            if (d->window_end <= 16)
                write_stored_block(d, d->window, d->window_end);
            else
                write_block_huff(d, 0, d->window, d->window_end);
            d->window_end = 0;
            fast_reset(d);
            return;
        }
    }
    d->ntokens = fast_encode(d, d->tokens, d->window, d->window_end);
    if (d->ntokens > d->window_end - (d->window_end >> 4))
        write_block_huff(d, 0, d->window, d->window_end);
    else
        write_block_dynamic(d, d->tokens, d->ntokens, 0, d->window, d->window_end);
    d->ntokens = 0;
    d->window_end = 0;
}

/* ---- level 0 and HuffmanOnly -------------------------------------------------------------- */

static void step_store(gf *d) {
    if (d->window_end > 0 && (d->window_end == MAX_STORE_BLOCK_SIZE || d->sync)) {
        write_stored_block(d, d->window, d->window_end);
        d->window_end = 0;
    }
}

static void step_huff(gf *d) {
    if ((d->window_end < d->window_cap && !d->sync) || d->window_end == 0) return;
    write_block_huff(d, 0, d->window, d->window_end);
    d->window_end = 0;
}

/* ---- driving ------------------------------------------------------------------------------ */

static void step(gf *d) {
    switch (d->mode) {
    case MODE_STORE: step_store(d); break;
    case MODE_HUFF: step_huff(d); break;
    case MODE_FAST: step_fast(d); break;
    case MODE_DEFLATE: step_deflate(d); break;
    }
}

static size_t fill(gf *d, const uint8_t *b, size_t n) {
    if (d->mode == MODE_DEFLATE) fill_deflate_shift(d);
    size_t room = (size_t)(d->window_cap - d->window_end);
    if (n > room) n = room;
    memcpy(d->window + d->window_end, b, n);
    d->window_end += (int)n;
    return n;
}

/* Go's write loop for one Write of the whole stream: the window is stepped only when it is
 * full and more input waits, so the output never depends on the chunking. */
static void gf_write(gf *d, const uint8_t *b, size_t n) {
    while (n > 0 && !d->oom) {
        if (d->window_end == d->window_cap) step(d);
        size_t k = fill(d, b, n);
        b += k;
        n -= k;
    }
}

static void gf_close(gf *d) {
    d->sync = 1;
    step(d);
    if (d->oom) return;
    write_stored_header(d, 0, 1);
    bw_flush(d);
}

static void gf_free(gf *d) {
    free(d->window);
    free(d->hash_head);
    free(d->hash_prev);
    free(d->tokens);
    free(d->table);
    free(d->prev);
    free(d->out);
    free(d);
}

static gf *gf_new(int level) {
    gf *d = calloc(1, sizeof(gf));
    if (d == NULL) return NULL;
    d->literal_encoding.ncodes = MAX_NUM_LIT;
    d->offset_encoding.ncodes = OFFSET_CODE_COUNT;
    d->codegen_encoding.ncodes = CODEGEN_CODE_COUNT;
    int ok = 1;
    if (level == 0 || level == -2) {
        d->mode = level == 0 ? MODE_STORE : MODE_HUFF;
        d->window_cap = MAX_STORE_BLOCK_SIZE;
        ok = (d->window = malloc(MAX_STORE_BLOCK_SIZE)) != NULL;
    } else if (level == 1) {
        d->mode = MODE_FAST;
        d->p = LEVELS[1];
        d->window_cap = MAX_STORE_BLOCK_SIZE;
        d->cur = MAX_STORE_BLOCK_SIZE;
        ok = (d->window = malloc(MAX_STORE_BLOCK_SIZE)) != NULL &&
             (d->tokens = malloc(sizeof(uint32_t) * (MAX_STORE_BLOCK_SIZE + 1))) != NULL &&
             (d->table = calloc(TABLE_SIZE, sizeof(table_entry))) != NULL &&
             (d->prev = malloc(MAX_STORE_BLOCK_SIZE)) != NULL;
    } else {
        if (level == -1) level = 6;
        d->mode = MODE_DEFLATE;
        d->p = LEVELS[level];
        d->window_cap = 2 * WINDOW_SIZE;
        d->hash_offset = 1;
        d->length = MIN_MATCH_LENGTH - 1;
        d->chain_head = -1;
        ok = (d->window = malloc(2 * WINDOW_SIZE)) != NULL &&
             (d->tokens = malloc(sizeof(uint32_t) * (MAX_FLATE_BLOCK_TOKENS + 1))) != NULL &&
             (d->hash_head = calloc(HASH_SIZE, sizeof(uint32_t))) != NULL &&
             (d->hash_prev = calloc(WINDOW_SIZE, sizeof(uint32_t))) != NULL;
    }
    if (!ok) {
        gf_free(d);
        return NULL;
    }
    return d;
}

/* ---- Python type -------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    gf *d;
    int level;
    int busy;
    int finished;
} CompressorObject;

static int Compressor_init(CompressorObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"level", NULL};
    int level = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|i:Compressor", kwlist, &level)) return -1;
    if (level < -2 || level > 9) {
        PyErr_Format(PyExc_ValueError, "invalid compression level %d: want value in range [-2, 9]", level);
        return -1;
    }
    if (self->d != NULL) {
        gf_free(self->d);
        self->d = NULL;
    }
    self->d = gf_new(level);
    if (self->d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->level = level;
    self->finished = 0;
    return 0;
}

static void Compressor_dealloc(CompressorObject *self) {
    if (self->d != NULL) gf_free(self->d);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int check_usable(CompressorObject *self) {
    if (self->d == NULL) {
        PyErr_SetString(PyExc_ValueError, "Compressor is not initialized");
        return 0;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Compressor is in use by another thread");
        return 0;
    }
    if (self->finished) {
        PyErr_SetString(PyExc_ValueError, "Compressor was already flushed");
        return 0;
    }
    if (self->d->oom) {
        PyErr_NoMemory();
        return 0;
    }
    return 1;
}

/* The output collected so far, as bytes; the buffer is kept (shrunk when it grew large). */
static PyObject *take_output(CompressorObject *self) {
    gf *d = self->d;
    if (d->oom) return PyErr_NoMemory();
    PyObject *res = PyBytes_FromStringAndSize((const char *)d->out, (Py_ssize_t)d->out_len);
    d->out_len = 0;
    if (d->out_cap > (1u << 22)) {
        free(d->out);
        d->out = NULL;
        d->out_cap = 0;
    }
    return res;
}

static PyObject *Compressor_compress(CompressorObject *self, PyObject *arg) {
    Py_buffer view;
    if (!check_usable(self)) return NULL;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    self->busy = 1;
    gf *d = self->d;
    Py_BEGIN_ALLOW_THREADS
    gf_write(d, (const uint8_t *)view.buf, (size_t)view.len);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    PyBuffer_Release(&view);
    return take_output(self);
}

static PyObject *Compressor_flush(CompressorObject *self, PyObject *Py_UNUSED(ignored)) {
    if (!check_usable(self)) return NULL;
    self->busy = 1;
    gf *d = self->d;
    Py_BEGIN_ALLOW_THREADS
    gf_close(d);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    self->finished = 1;
    return take_output(self);
}

static PyObject *Compressor_get_level(CompressorObject *self, void *Py_UNUSED(closure)) {
    return PyLong_FromLong(self->level);
}

static PyMethodDef Compressor_methods[] = {
    {"compress", (PyCFunction)Compressor_compress, METH_O,
     "compress(data) -> bytes: feed data; returns the compressed bytes ready so far."},
    {"flush", (PyCFunction)Compressor_flush, METH_NOARGS,
     "flush() -> bytes: end the stream (Go's Close); the compressor cannot be used after."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Compressor_getset[] = {
    {"level", (getter)Compressor_get_level, NULL, "the compression level given", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject CompressorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cogw._goflate.Compressor",
    .tp_basicsize = sizeof(CompressorObject),
    .tp_dealloc = (destructor)Compressor_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Compressor(level=-1): a raw DEFLATE stream with the bytes of Go's compress/flate.",
    .tp_methods = Compressor_methods,
    .tp_getset = Compressor_getset,
    .tp_init = (initproc)Compressor_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef goflate_module = {
    PyModuleDef_HEAD_INIT, "_goflate",
    "DEFLATE with the exact output of Go's compress/flate (the algorithm of Go up to 1.26).", -1, NULL,
};

PyMODINIT_FUNC PyInit__goflate(void) {
    init_tables();
    if (PyType_Ready(&CompressorType) < 0) return NULL;
    PyObject *m = PyModule_Create(&goflate_module);
    if (m == NULL) return NULL;
    Py_INCREF(&CompressorType);
    if (PyModule_AddObject(m, "Compressor", (PyObject *)&CompressorType) < 0) {
        Py_DECREF(&CompressorType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
