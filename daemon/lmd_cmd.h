/*
 * lmd_cmd.h -- the subcommands: `lmd NAME ARGS...` runs lmd_cmd_NAME
 * with argv[0] = NAME.  Each returns the process exit status (0 ok, 1
 * failure, 2 usage) and prints its own --help.
 */

#ifndef LMD_CMD_H
#define LMD_CMD_H

int lmd_cmd_tokenize(int argc, char **argv);   /* lmd_cmd_tokenize.c */
int lmd_cmd_template(int argc, char **argv);   /* lmd_cmd_template.c */
int lmd_cmd_generate(int argc, char **argv);   /* lmd_cmd_generate.c */
int lmd_cmd_chat(int argc, char **argv);       /* lmd_cmd_chat.c */
int lmd_cmd_demo(int argc, char **argv);       /* lmd_cmd_demo.c */
int lmd_cmd_serve(int argc, char **argv);      /* lmd_cmd_serve.c */
int lmd_cmd_bench(int argc, char **argv);      /* lmd_cmd_bench.c */

#endif /* LMD_CMD_H */
