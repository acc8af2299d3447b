from jobico.component import main
from jobico.recorder.service import RecorderService

main("recorder", RecorderService)
