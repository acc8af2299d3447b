from jobico.component import main
from jobico.queue.service import QueueService

main("queue", QueueService)
