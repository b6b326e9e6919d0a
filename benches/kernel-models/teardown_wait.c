// How long a parent waits from releasing a child to reaping it, with the namespaces in FLAGS,
// holding (HOLD 1) or not its mount namespace open. Usage: teardown_wait HOLD FLAGS
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sched.h>
#include <fcntl.h>
#include <time.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <sys/syscall.h>
static double now(){ struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec*1e6+t.tv_nsec/1e3; }
int cmp(const void*a,const void*b){ double x=*(double*)a,y=*(double*)b; return x<y?-1:x>y;}
int main(int argc,char**argv){ int n=200, hold=atoi(argv[1]); int flags=strtol(argv[2],0,0); double *d=calloc(n,8);
 for(int i=0;i<n;i++){ int p[2]; pipe(p); int q[2]; pipe(q);
  pid_t pid=syscall(SYS_clone, flags|SIGCHLD, 0,0,0,0);
  if(pid==0){ if (flags & CLONE_NEWNS) { mount(0,"/",0,MS_REC|MS_PRIVATE,0); mount("t","/tmp","tmpfs",0,0); mount("p","/proc","proc",0,0);} char c; write(q[1],"r",1); read(p[0],&c,1); _exit(0);} 
  char c; read(q[0],&c,1); int fd=-1; char path[64];
  if(hold){ snprintf(path,64,"/proc/%d/ns/mnt",pid); fd=open(path,O_RDONLY|O_CLOEXEC);} 
  double t=now(); write(p[1],"x",1); waitpid(pid,0,0); d[i]=now()-t; if(fd>=0) close(fd); close(p[0]);close(p[1]);close(q[0]);close(q[1]); usleep(2000);} 
 qsort(d,n,8,cmp); printf("hold=%d flags=%#x: release->reaped p50 %.0f us p90 %.0f\n",hold,flags,d[n/2],d[n*9/10]); }
