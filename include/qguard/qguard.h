/* qguard's C API: Qwen3Guard-Gen moderation for C and for every language that calls C (C#, Rust, Go,
   Python ctypes, ...). C99; no C++ type crosses it and no C++ exception leaves it.

     qguard_classifier* guard = NULL;
     if (qguard_classifier_load("models/Qwen3Guard-Gen-0.6B", NULL, &guard) != QGUARD_OK) {
       fprintf(stderr, "%s\n", qguard_last_error());
     }
     qguard_verdict v;
     if (qguard_moderate_prompt(guard, text, strlen(text), &v) == QGUARD_OK && v.severity != QGUARD_SAFE) {
       ... block ...
     }
     qguard_classifier_free(guard);

   Every function returning qguard_status sets this thread's qguard_last_error(): the message of
   its failure, or "" on success. A failure never yields a verdict: *out is written only on
   QGUARD_OK. Texts are UTF-8, passed as pointer and length (NULL is accepted for length 0); they
   need not be NUL-terminated. One classifier serves any number of threads at once. */
#ifndef QGUARD_QGUARD_H
#define QGUARD_QGUARD_H

#include <stddef.h>
#include <stdint.h>

#include "qguard/export.h"
#include "qguard/version.hpp"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qguard_classifier qguard_classifier;

/* QGUARD_OK, then one value per qguard::ErrorCode in its order (qguard/error.hpp), with
   QGUARD_INTERNAL_ERROR after the first eleven. */
typedef enum {
  QGUARD_OK = 0,
  QGUARD_NOT_FOUND = 1,          /* a file or directory does not exist or cannot be opened */
  QGUARD_MALFORMED_JSON = 2,     /* a JSON file does not parse or lacks a required field */
  QGUARD_UNSUPPORTED_MODEL = 3,  /* a model or config value qguard does not run */
  QGUARD_MISSING_TENSOR = 4,     /* a tensor the config requires is absent */
  QGUARD_SHAPE_MISMATCH = 5,     /* a tensor's shape disagrees with the config */
  QGUARD_UNSUPPORTED_DTYPE = 6,  /* a tensor dtype other than BF16, F16, F32 */
  QGUARD_CORRUPT_FILE = 7,       /* sizes or offsets inside a file are impossible */
  QGUARD_INVALID_UTF8 = 8,       /* a text is not valid UTF-8 */
  QGUARD_INPUT_TOO_LONG = 9,     /* the prompt exceeds qguard_options.max_input_tokens */
  QGUARD_INVALID_ARGUMENT = 10,  /* a NULL pointer, a value out of range, a malformed conversation */
  QGUARD_MALFORMED_OUTPUT = 11,  /* reference mode: the model's answer is outside the output grammar */
  QGUARD_INTERNAL_ERROR = 12,    /* anything else, e.g. out of memory; qguard_last_error() says what */
  QGUARD_ACCESS_DENIED = 13,     /* the Hugging Face Hub refused a download: gated or private, see HF_TOKEN */
  QGUARD_NETWORK_ERROR = 14,     /* the Hub could not be reached and the cache cannot stand in */
  QGUARD_IO_ERROR = 15           /* a file could not be written, e.g. the model cache's disk is full */
} qguard_status;

typedef enum { QGUARD_SAFE = 0, QGUARD_CONTROVERSIAL = 1, QGUARD_UNSAFE = 2 } qguard_severity;

/* Bit numbers of qguard_verdict.categories, in the model card's order. */
typedef enum {
  QGUARD_VIOLENT = 0,
  QGUARD_NON_VIOLENT_ILLEGAL_ACTS = 1,
  QGUARD_SEXUAL_CONTENT_OR_SEXUAL_ACTS = 2,
  QGUARD_PII = 3,
  QGUARD_SUICIDE_AND_SELF_HARM = 4,
  QGUARD_UNETHICAL_ACTS = 5,
  QGUARD_POLITICALLY_SENSITIVE_TOPICS = 6,
  QGUARD_COPYRIGHT_VIOLATION = 7,
  QGUARD_JAILBREAK = 8
} qguard_category;
#define QGUARD_CATEGORY_COUNT 9

typedef struct {
  qguard_severity severity;
  uint32_t categories;    /* bit i set: category i named (see qguard_category) */
  int refusal;            /* -1 prompt moderation, 0 No, 1 Yes */
  float probabilities[3]; /* Safe, Controversial, Unsafe; all 0 when not measured */
  /* Indexed by qguard_category: the probability of each category being the first one the model
     names, given its severity (1 minus the sum is None's); all 0 when not measured (label only). */
  float category_probabilities[QGUARD_CATEGORY_COUNT];
} qguard_verdict;

typedef enum {
  QGUARD_MODE_FAST = 0,     /* default: severity from one step, categories constrained to the grammar */
  QGUARD_MODE_REFERENCE = 1 /* the model card's greedy generation, then parsing */
} qguard_mode;

typedef enum {
  QGUARD_WEIGHTS_AUTO = 0, /* as in the files (BF16 stays BF16; GGUF blocks are read in place) */
  QGUARD_WEIGHTS_F32 = 1,
  QGUARD_WEIGHTS_BF16 = 2,
  QGUARD_WEIGHTS_INT8 = 3 /* quantized at load: faster, slightly different probabilities */
} qguard_weights;

/* How a classifier is loaded; qguard::Classifier::Options documents each field. Always fill it with
   qguard_options_init first: later versions append fields, and struct_size tells the library which
   ones the caller knows. */
typedef struct {
  size_t struct_size;         /* sizeof(qguard_options), set by qguard_options_init */
  int threads;                /* threads for one moderation, the caller included; 0 = one per core */
  qguard_mode mode;
  qguard_weights weights;
  const char* pack_cache_dir; /* NULL or "": no pack cache */
  int max_input_tokens;       /* longest accepted prompt in tokens, template included (8192) */
  int max_new_tokens;         /* reference mode only (128) */
  int match_special_tokens;   /* 0 (default): "<|im_end|>" inside a message stays text; 1: matched */
} qguard_options;

typedef enum { QGUARD_ROLE_SYSTEM = 0, QGUARD_ROLE_USER = 1, QGUARD_ROLE_ASSISTANT = 2 } qguard_role;

/* One message of a conversation; content is UTF-8 of content_length bytes. */
typedef struct {
  qguard_role role;
  const char* content;
  size_t content_length;
} qguard_message;

/* The defaults, with struct_size set. */
QGUARD_API void qguard_options_init(qguard_options* options);

/* Loads a Qwen3Guard-Gen model directory (config.json, safetensors, tokenizer.json), or a Hugging
   Face Hub repository id such as "Qwen/Qwen3Guard-Gen-0.6B" (optionally "@REVISION"): downloaded
   into the Hub's standard cache on first use, see docs/hub.md. A local path always wins. options may
   be NULL (defaults). On success *out owns the classifier; on failure *out is NULL. */
QGUARD_API qguard_status qguard_classifier_load(const char* model_dir, const qguard_options* options,
                                                qguard_classifier** out);
/* Frees a classifier; NULL is ignored. No other thread may be using it. */
QGUARD_API void qguard_classifier_free(qguard_classifier* classifier);

/* Judges a user's message. */
QGUARD_API qguard_status qguard_moderate_prompt(const qguard_classifier* classifier, const char* text, size_t length,
                                                qguard_verdict* out);
/* Judges an assistant's reply to a user's message, with refusal. */
QGUARD_API qguard_status qguard_moderate_response(const qguard_classifier* classifier, const char* prompt,
                                                  size_t prompt_length, const char* response, size_t response_length,
                                                  qguard_verdict* out);
/* Judges the last message of a conversation: a user message (prompt moderation) or an assistant
   message (response moderation). A system message may come first. */
QGUARD_API qguard_status qguard_moderate_conversation(const qguard_classifier* classifier,
                                                      const qguard_message* messages, size_t count,
                                                      qguard_verdict* out);
/* Only the severity and its probabilities (categories 0, refusal -1): the quickest answer to
   "block or not". */
QGUARD_API qguard_status qguard_moderate_label(const qguard_classifier* classifier, const qguard_message* messages,
                                               size_t count, qguard_verdict* out);

/* This thread's last error message; "" when the last call succeeded. Valid until this thread's next
   qguard call. */
QGUARD_API const char* qguard_last_error(void);
/* The library's version, "MAJOR.MINOR.PATCH". */
QGUARD_API const char* qguard_version(void);

/* Stable names: "not_found", ... (as in JSON error objects); "Safe", "Controversial", "Unsafe";
   "Violent", ..., "Jailbreak" (the model's spellings). NULL for a value out of range. */
QGUARD_API const char* qguard_status_name(qguard_status status);
QGUARD_API const char* qguard_severity_name(qguard_severity severity);
QGUARD_API const char* qguard_category_name(qguard_category category);

#ifdef __cplusplus
}
#endif

#endif
