from jobico.component import main
from jobico.executor.service import ExecutorService

main("executor", ExecutorService)
