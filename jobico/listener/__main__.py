from jobico.component import main
from jobico.listener.service import ListenerService

main("listener", ListenerService)
