/* qguard from C: moderate a user's message, or an assistant's reply to it, and print the verdict as
   one JSON line (the fields `qguard classify` prints).

     quickstart MODEL_DIR PROMPT [RESPONSE]

   Build against an installed qguard:  cc -std=c99 quickstart.c $(pkg-config --cflags --libs qguard) */
#include <stdio.h>
#include <string.h>

#include <qguard/qguard.h>

static void print_verdict(const qguard_verdict* verdict) {
  printf("{\"severity\": \"%s\", \"categories\": [", qguard_severity_name(verdict->severity));
  const char* separator = "";
  for (int category = 0; category < QGUARD_CATEGORY_COUNT; ++category) {
    if (verdict->categories & (1u << category)) {
      printf("%s\"%s\"", separator, qguard_category_name((qguard_category)category));
      separator = ", ";
    }
  }
  static const char* const refusal[] = {"null", "false", "true"};
  printf("], \"refusal\": %s, \"probabilities\": {\"Safe\": %.9g, \"Controversial\": %.9g, \"Unsafe\": %.9g}",
         refusal[verdict->refusal + 1], verdict->probabilities[QGUARD_SAFE],
         verdict->probabilities[QGUARD_CONTROVERSIAL], verdict->probabilities[QGUARD_UNSAFE]);
  printf(", \"category_probabilities\": {");
  for (int category = 0; category < QGUARD_CATEGORY_COUNT; ++category) {
    printf("%s\"%s\": %.9g", category ? ", " : "", qguard_category_name((qguard_category)category),
           verdict->category_probabilities[category]);
  }
  printf("}}\n");
}

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    fprintf(stderr, "usage: %s MODEL_DIR PROMPT [RESPONSE]   (qguard %s)\n", argv[0], qguard_version());
    return 2;
  }
  qguard_classifier* guard = NULL;
  qguard_status status = qguard_classifier_load(argv[1], NULL, &guard);
  if (status != QGUARD_OK) {
    fprintf(stderr, "qguard: %s: %s\n", qguard_status_name(status), qguard_last_error());
    return 1;
  }
  const char* prompt = argv[2];
  qguard_verdict verdict;
  if (argc == 3) {
    status = qguard_moderate_prompt(guard, prompt, strlen(prompt), &verdict);
  } else {
    const char* response = argv[3];
    status = qguard_moderate_response(guard, prompt, strlen(prompt), response, strlen(response), &verdict);
  }
  if (status == QGUARD_OK) {
    print_verdict(&verdict);
  } else {
    fprintf(stderr, "qguard: %s: %s\n", qguard_status_name(status), qguard_last_error());
  }
  qguard_classifier_free(guard);
  return status == QGUARD_OK ? 0 : 1;
}
