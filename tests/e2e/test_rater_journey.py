"""A rater signs in, plays a clip, rates three clips with mouse and keyboard; all stored."""

import pytest

from annotate.models import Rating
from tests.conftest import make_clips, make_project, make_user
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def study(media_root):
    project = make_project(min_raters=1)
    make_clips(project, 3)
    rater = make_user("rita", "rater", [project])
    return project, rater


def wait_for_clip(page, previous_assignment=None):
    page.wait_for_selector("#stage:not([hidden])")
    page.wait_for_function(
        "(prev) => document.querySelector('#targets input') && "
        "document.querySelector('#time').textContent.includes('/')",
        arg=previous_assignment,
    )


def play(page):
    page.click("#play")
    page.wait_for_function("() => document.querySelector('#play').textContent.includes('Pause')")
    # The audio really advances.
    page.wait_for_function("() => parseFloat(document.querySelector('#time').textContent) > 0.1")


def test_rater_rates_three_clips_with_mouse_and_keyboard(live_server, page, study):
    project, rater = study
    sign_in(page, live_server.url, "rita", "pw-rita")
    page.wait_for_url(f"**/rate/{project.pk}/")

    # Clip 1, with the mouse: click on the sliders near their ends.
    wait_for_clip(page)
    page.screenshot(path="/tmp/concord-rate-desktop.png", full_page=True)
    play(page)
    for name, fraction in (("arousal", 0.9), ("valence", 0.2)):
        box = page.locator(f"#scale-{name}").bounding_box()
        page.mouse.click(box["x"] + fraction * box["width"], box["y"] + box["height"] / 2)
    assert page.is_enabled("#submit")
    page.click("#submit")
    page.wait_for_function("() => document.querySelector('#done-today').textContent === '1'")

    # Clip 2, with the keyboard only.
    wait_for_clip(page)
    page.keyboard.press("Space")
    page.wait_for_function("() => document.querySelector('#play').textContent.includes('Pause')")
    page.keyboard.press("1")
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("2")
    page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#done-today').textContent === '2'")

    # Clip 3: mouse drag on one slider, keyboard on the other.
    wait_for_clip(page)
    play(page)
    box = page.locator("#scale-arousal").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.1 * box["width"], box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    page.keyboard.press("2")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")

    page.wait_for_selector("#done:not([hidden])")
    assert "nothing left" in page.inner_text("#done")
    ratings = list(Rating.objects.filter(rater=rater).order_by("id"))
    assert len(ratings) == 3
    first, second, third = (r.values for r in ratings)
    assert first["arousal"] > 0.5
    assert first["valence"] < -0.3
    assert second == {"arousal": pytest.approx(0.05), "valence": pytest.approx(-0.2)}
    assert third["arousal"] < -0.5
    assert third["valence"] == pytest.approx(0.01)
    assert all(r.time_spent_ms and r.time_spent_ms > 0 for r in ratings)


def test_a_rating_sent_during_an_outage_arrives_once_when_back(live_server, page, study):
    _, rater = study
    sign_in(page, live_server.url, "rita", "pw-rita")
    wait_for_clip(page)
    play(page)
    failures = {"left": 2}

    def flaky(route):
        if failures["left"] > 0:
            failures["left"] -= 1
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route("**/rating/", flaky)
    page.keyboard.press("1")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("2")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")
    page.wait_for_selector("#banner:not([hidden])")
    assert "will not be lost" in page.inner_text("#banner")
    page.wait_for_function(
        "() => document.querySelector('#done-today').textContent === '1'", timeout=20000
    )
    assert page.is_hidden("#banner")
    assert Rating.objects.filter(rater=rater).count() == 1


def test_phone_sized_screen(live_server, browser, study):
    context = browser.new_context(
        viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    sign_in(page, live_server.url, "rita", "pw-rita")
    wait_for_clip(page)
    page.screenshot(path="/tmp/concord-rate-phone.png", full_page=True)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 375  # nothing overflows sideways
    slider = page.locator("#scale-arousal").bounding_box()
    assert slider["width"] > 250
    context.close()
