// The superblocks of a container's /dev, /dev/pts, /dev/shm, /dev/mqueue and /sys: mounted
// fresh by the setup process (MODE 0), or made ahead with fsopen/fsmount by a process in the
// same user, network and IPC namespaces and attached with move_mount (MODE 1), each in a new
// mount namespace; the time of the five, and fork-to-reaped with the teardown.
// Usage (as root): unshare -Urnm --ipc ./premade_superblocks MODE
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sched.h>
#include <time.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/stat.h>
#ifndef FSCONFIG_SET_STRING
#define FSCONFIG_SET_STRING 1
#define FSCONFIG_CMD_CREATE 6
#endif
static double now(){ struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec*1e6+t.tv_nsec/1e3; }
static int cmp(const void*a,const void*b){ double x=*(double*)a,y=*(double*)b; return x<y?-1:x>y;}
static const char *fs[5] = {"tmpfs", "devpts", "tmpfs", "mqueue", "sysfs"};
static const char *opts[5] = {"mode=755,size=65536k", "newinstance,ptmxmode=0666,mode=0620", "mode=1777,size=67108864", 0, 0};
static unsigned long flags[5] = {MS_NOSUID|MS_STRICTATIME, MS_NOSUID|MS_NOEXEC, MS_NOSUID|MS_NODEV|MS_NOEXEC, MS_NOSUID|MS_NODEV|MS_NOEXEC, MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC};
static unsigned attrs[5] = {MOUNT_ATTR_NOSUID|MOUNT_ATTR_STRICTATIME, MOUNT_ATTR_NOSUID|MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID|MOUNT_ATTR_NODEV|MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID|MOUNT_ATTR_NODEV|MOUNT_ATTR_NOEXEC, MOUNT_ATTR_RDONLY|MOUNT_ATTR_NOSUID|MOUNT_ATTR_NODEV|MOUNT_ATTR_NOEXEC};
static int premake(int k){
  int f = syscall(SYS_fsopen, fs[k], 1); if (f < 0) { perror("fsopen"); exit(1); }
  if (opts[k]) { char buf[128]; strcpy(buf, opts[k]); for (char *o = strtok(buf, ","); o; o = strtok(0, ",")) {
      char *v = strchr(o, '='); if (v) *v++ = 0; if (syscall(SYS_fsconfig, f, v ? FSCONFIG_SET_STRING : 0 /* FLAG */, o, v, 0)) { perror(o); exit(1); } } }
  if (syscall(SYS_fsconfig, f, FSCONFIG_CMD_CREATE, 0, 0, 0)) { perror("create"); exit(1); }
  int m = syscall(SYS_fsmount, f, 1, attrs[k]); if (m < 0) { perror("fsmount"); exit(1); } close(f); return m; }
int main(int argc,char**argv){ int mode=atoi(argv[1]); int n=300; double *d=calloc(n,8), *m=calloc(n,8);
  char dir[5][64]; for(int k=0;k<5;k++){ snprintf(dir[k],64,"/var/tmp/nsbox-kernel-models/sb%d",k); mkdir(dir[k],0755);} 
  for(int i=0;i<n;i++){ int fds[5]; if(mode) for(int k=0;k<5;k++) fds[k]=premake(k);
    int pp[2]; pipe(pp); double t=now(); pid_t pid=fork();
    if(pid==0){ if(unshare(CLONE_NEWNS)) { perror("unshare"); _exit(1);} mount(0,"/",0,MS_REC|MS_PRIVATE,0); double t1=now();
      for(int k=0;k<5;k++){ if(mode==0){ if(mount(fs[k],dir[k],fs[k],flags[k],opts[k])) perror(fs[k]); }
        else { if(syscall(SYS_move_mount, fds[k], "", AT_FDCWD, dir[k], 4 /* F_EMPTY_PATH */)) perror("move_mount"); } }
      double e=now()-t1; write(pp[1],&e,8); _exit(0);} 
    if(mode) for(int k=0;k<5;k++) close(fds[k]);
    double e; read(pp[0],&e,8); waitpid(pid,0,0); d[i]=now()-t; m[i]=e; close(pp[0]); close(pp[1]); usleep(500);} 
  qsort(d,n,8,cmp); qsort(m,n,8,cmp);
  printf("%s: the five p50 %.1f us (p10 %.1f); fork->reaped p50 %.0f us\n", mode?"made ahead, attached":"mounted fresh", m[n/2], m[n/10], d[n/2]); }
